import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ResizedImage } from 'nestjs-image-resize';
import request from 'supertest';
import { transparentPng } from './support/fixtures';

let logo: Buffer;
beforeAll(async () => {
  logo = await transparentPng();
});

@Controller('a')
class AController {
  @Get('logo.png')
  @ResizedImage({ width: 100, height: 100 })
  logo() {
    return { buffer: logo, cacheKey: 'shared_logo' };
  }
}

@Controller('b')
class BController {
  @Get('logo.png')
  @ResizedImage({ width: 100, height: 100 })
  logo() {
    return { buffer: logo, cacheKey: 'shared_logo' };
  }
}

@Module({ imports: [ImageResizeModule.forRoot({ ttl: 100, keyPrefix: 'a_' })], controllers: [AController] })
class AModule {}

@Module({ imports: [ImageResizeModule.forRoot({ ttl: 200, keyPrefix: 'b_' })], controllers: [BController] })
class BModule {}

describe('two forRoot registrations', () => {
  let app: INestApplication;
  afterEach(async () => app?.close());

  it('keep their own options and caches: they do not collapse into one', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AModule, BModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const a = await request(app.getHttpServer()).get('/a/logo.png');
    const b = await request(app.getHttpServer()).get('/b/logo.png');
    expect(a.headers['cache-control']).toBe('public, max-age=100');
    expect(b.headers['cache-control']).toBe('public, max-age=200');
    expect(a.headers['x-cache']).toBe('MISS');
    // Same cacheKey, but B has its own cache: a miss there too.
    expect(b.headers['x-cache']).toBe('MISS');
    const again = await request(app.getHttpServer()).get('/a/logo.png');
    expect(again.headers['x-cache']).toBe('HIT');
  });

  it('adds s-maxage and immutable for CDNs, module-wide or per route', async () => {
    @Controller('cdn')
    class CdnController {
      @Get('module.png')
      @ResizedImage({ width: 50, height: 50 })
      moduleWide() {
        return logo;
      }

      @Get('route.png')
      @ResizedImage({ width: 50, height: 50, cacheControl: { sMaxAge: 60 } })
      ownRoute() {
        return logo;
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        ImageResizeModule.forRoot({ ttl: 3600, cacheControl: { sMaxAge: 31536000, immutable: true } }),
      ],
      controllers: [CdnController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    expect((await request(app.getHttpServer()).get('/cdn/module.png')).headers['cache-control']).toBe(
      'public, max-age=3600, s-maxage=31536000, immutable',
    );
    expect((await request(app.getHttpServer()).get('/cdn/route.png')).headers['cache-control']).toBe(
      'public, max-age=3600, s-maxage=60',
    );
  });

  it("fails at boot, naming the controller, when the controller's module does not import it", async () => {
    @Module({ controllers: [AController] })
    class Forgetful {}
    const moduleRef = await Test.createTestingModule({ imports: [Forgetful, BModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow(
      /AController\.logo: the controller got no ResizedImageResponder: import ImageResizeModule in the controller's module/,
    );
  });

  it('is usable from every module with isGlobal', async () => {
    @Module({ controllers: [AController] })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ isGlobal: true }), FeatureModule],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const res = await request(app.getHttpServer()).get('/a/logo.png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
  });
});
