import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  Headers,
  type INestApplication,
  Injectable,
  UseGuards,
} from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  ImageResizeConfigError,
  ImageResizeModule,
  type ImageResizeModuleOptions,
  ResizedImage,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { photoJpeg, transparentPng } from './support/fixtures';

/** One image per user: what a private route serves. */
const avatars = new Map<string, Buffer>();
let png: Buffer;
let jpeg: Buffer;

/** Lets a request through when it names its user (`X-User`), as an authentication guard would. */
@Injectable()
class UserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const headers = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers;
    return typeof headers['x-user'] === 'string' && avatars.has(headers['x-user']);
  }
}

/** Routes of an app whose module says `cacheControl: { private: true }`. */
@Controller('account')
class AccountController {
  /** A user's own image: the cacheKey names the user, so that one user's image never reaches another. */
  @Get('avatar.png')
  @UseGuards(UserGuard)
  @ResizedImage({ width: 32, height: 32, format: 'png' })
  avatar(@Headers('x-user') user: string) {
    return { buffer: avatars.get(user), cacheKey: `avatar_${user}` };
  }

  @Get('photo')
  @UseGuards(UserGuard)
  @ResizedImage({ width: 40, height: 40, format: 'auto' })
  photo(@Headers('x-user') user: string) {
    return { buffer: jpeg, cacheKey: `photo_${user}` };
  }
}

/** Routes of an app whose module asks for CDN directives: `{ sMaxAge: 31536000, immutable: true }`. */
@Controller('mixed')
class MixedController {
  @Get('public.png')
  @ResizedImage({ width: 20, height: 20, format: 'png' })
  public() {
    return { buffer: png, cacheKey: 'cc_public' };
  }

  @Get('private.png')
  @ResizedImage({ width: 20, height: 20, format: 'png', cacheControl: { private: true } })
  private() {
    return { buffer: png, cacheKey: 'cc_private' };
  }

  /** The route's own Cache-Control, above the decorator; its cacheControl option is overruled by it. */
  @Get('own-above.png')
  @Header('Cache-Control', 'private, no-cache')
  @ResizedImage({ width: 20, height: 20, format: 'png', cacheControl: { immutable: true } })
  ownAbove() {
    return { buffer: png, cacheKey: 'cc_own_above' };
  }

  /** The route's own Cache-Control, below the decorator, and made per request (Nest takes a function). */
  @ResizedImage({ width: 20, height: 20, format: 'auto' })
  @Header('Cache-Control', () => 'no-store')
  @Get('own-below')
  ownBelow() {
    return { buffer: jpeg, cacheKey: 'cc_own_below' };
  }
}

type Platform = 'Express' | 'Fastify';

async function startApp(
  platform: Platform,
  controller: new (...args: never[]) => unknown,
  options: ImageResizeModuleOptions,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot(options)],
    controllers: [controller],
    providers: [UserGuard],
  }).compile();
  if (platform === 'Express') {
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

beforeAll(async () => {
  [png, jpeg] = await Promise.all([transparentPng(), photoJpeg()]);
  const avatar = (background: string) =>
    sharp({ create: { width: 64, height: 64, channels: 3, background } })
      .png()
      .toBuffer();
  avatars.set('ada', await avatar('#dc2626'));
  avatars.set('bob', await avatar('#16a34a'));
});

/** `Expires`, as a date about `seconds` from now. */
function expectExpiresIn(expires: string | undefined, seconds: number): void {
  expect(expires).toBeDefined();
  const inSeconds = (Date.parse(expires as string) - Date.now()) / 1000;
  expect(inSeconds).toBeGreaterThan(seconds - 5);
  expect(inSeconds).toBeLessThanOrEqual(seconds + 1);
}

describe.each<Platform>(['Express', 'Fastify'])('Cache-Control on %s', (platform) => {
  describe('module-wide cacheControl: { private: true }', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startApp(platform, AccountController, { ttl: 600, cacheControl: { private: true } });
    });
    afterAll(async () => app?.close());

    it('sends private, max-age=<ttl>, never public, s-maxage or immutable, and keeps ETag, 304 and Expires', async () => {
      const first = await request(app.getHttpServer()).get('/account/avatar.png').set('X-User', 'ada');
      expect(first.status).toBe(200);
      expect(first.headers['cache-control']).toBe('private, max-age=600');
      expect(first.headers['cache-control']).not.toMatch(/public|s-maxage|immutable/);
      expectExpiresIn(first.headers['expires'], 600);
      expect(first.headers['etag']).toMatch(/^"/);
      expect(first.headers['x-cache']).toBe('MISS');

      const revalidated = await request(app.getHttpServer())
        .get('/account/avatar.png')
        .set('X-User', 'ada')
        .set('If-None-Match', first.headers['etag']);
      expect(revalidated.status).toBe(304);
      expect(revalidated.headers['cache-control']).toBe('private, max-age=600');
      expect(revalidated.headers['etag']).toBe(first.headers['etag']);
    });

    it("serves each user their own image, under a cacheKey that names the user, and no one's without the guard", async () => {
      const ada = await request(app.getHttpServer()).get('/account/avatar.png').set('X-User', 'ada');
      const bob = await request(app.getHttpServer()).get('/account/avatar.png').set('X-User', 'bob');
      expect([ada.status, bob.status]).toEqual([200, 200]);
      expect(bob.headers['etag']).not.toBe(ada.headers['etag']);
      expect(bob.headers['cache-control']).toBe('private, max-age=600');
      expect((await request(app.getHttpServer()).get('/account/avatar.png')).status).toBe(403);
    });

    it('keeps Vary: Accept on a negotiated private image', async () => {
      const res = await request(app.getHttpServer())
        .get('/account/photo')
        .set('X-User', 'ada')
        .set('Accept', 'image/webp,*/*');
      expect([res.status, res.headers['content-type'], res.headers['vary']]).toEqual([
        200,
        'image/webp',
        'Accept',
      ]);
      expect(res.headers['cache-control']).toBe('private, max-age=600');
    });
  });

  describe('a route of its own in a module with CDN directives', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startApp(platform, MixedController, {
        ttl: 600,
        cacheControl: { sMaxAge: 31536000, immutable: true },
      });
    });
    afterAll(async () => app?.close());

    it("sends a route's cacheControl: { private: true } instead of the module's directives", async () => {
      const route = await request(app.getHttpServer()).get('/mixed/private.png');
      expect(route.status).toBe(200);
      expect(route.headers['cache-control']).toBe('private, max-age=600');
      expectExpiresIn(route.headers['expires'], 600);
      const module = await request(app.getHttpServer()).get('/mixed/public.png');
      expect(module.headers['cache-control']).toBe('public, max-age=600, s-maxage=31536000, immutable');
    });

    it('keeps the Cache-Control the route sets with @Header() above the decorator, and sends no Expires', async () => {
      const first = await request(app.getHttpServer()).get('/mixed/own-above.png');
      expect(first.status).toBe(200);
      expect(first.headers['cache-control']).toBe('private, no-cache');
      expect(first.headers).not.toHaveProperty('expires');
      expect([first.headers['content-type'], first.headers['x-cache']]).toEqual(['image/png', 'MISS']);

      const revalidated = await request(app.getHttpServer())
        .get('/mixed/own-above.png')
        .set('If-None-Match', first.headers['etag']);
      expect(revalidated.status).toBe(304);
      expect(revalidated.headers['cache-control']).toBe('private, no-cache');
      expect(revalidated.headers).not.toHaveProperty('expires');
    });

    it('keeps one set below the decorator, made by a function, with Vary: Accept', async () => {
      for (let i = 0; i < 2; i++) {
        const res = await request(app.getHttpServer())
          .get('/mixed/own-below')
          .set('Accept', 'image/avif,*/*');
        expect([res.status, res.headers['content-type'], res.headers['vary']]).toEqual([
          200,
          'image/avif',
          'Accept',
        ]);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.headers).not.toHaveProperty('expires');
        expect(res.headers['x-cache']).toBe(i === 0 ? 'MISS' : 'HIT');
      }
    });
  });
});

describe('private with directives for shared caches is refused at boot', () => {
  const refused = (got: string, name = 'option "cacheControl"') =>
    `ImageResizeModule: ${name} must be private: true without sMaxAge or immutable: true, ` +
    `which are for public images that CDNs may keep (got private: true with ${got})`;

  it('in the module options, of forRoot and of forRootAsync', async () => {
    const compile = (module: ReturnType<typeof ImageResizeModule.forRoot>) =>
      Test.createTestingModule({ imports: [module], controllers: [MixedController] }).compile();

    const sync = compile(ImageResizeModule.forRoot({ cacheControl: { private: true, sMaxAge: 60 } }));
    await expect(sync).rejects.toThrow(ImageResizeConfigError);
    await expect(sync).rejects.toThrow(refused('sMaxAge: 60'));

    const async = compile(
      ImageResizeModule.forRootAsync({
        useFactory: () => ({ cacheControl: { private: true, sMaxAge: 0, immutable: true } }),
      }),
    );
    await expect(async).rejects.toThrow(refused('sMaxAge: 0 and immutable: true'));
  });

  it('in a route, when its class is defined', () => {
    const define = () => {
      @Controller()
      class Refused {
        @Get('avatar.png')
        @ResizedImage({ width: 32, height: 32, cacheControl: { private: true, immutable: true } })
        avatar() {
          return png;
        }
      }
      return Refused;
    };
    expect(define).toThrow(ImageResizeConfigError);
    expect(define).toThrow(refused('immutable: true', '@ResizedImage() cacheControl'));
  });
});
