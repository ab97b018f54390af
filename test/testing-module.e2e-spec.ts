import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Controller,
  Get,
  type INestApplication,
  Module,
  type ModuleMetadata,
  Param,
  type Type,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import {
  findImageResizeModule,
  ImageResizeRecorder,
  ImageResizeTestingModule,
  type ImageResizeTestingOptions,
} from 'nestjs-image-resize/testing';
import sharp from 'sharp';
import { workerPids } from './support/process-tree';
import request from 'supertest';

const CDN = 'https://cdn.example.com';

@Controller()
class LogosController {
  @Get('logo/:name')
  @ResizedImage({ width: 128, height: 128, format: 'png' })
  logo(@Param('name') name: string) {
    return { url: `${CDN}/${name}.png`, cacheKey: `logo_${name}` };
  }

  @Get('elsewhere')
  @ResizedImage({ width: 128, height: 128, format: 'png' })
  elsewhere() {
    return 'https://images.example.org/acme.png';
  }
}

/** A `width` x `height` opaque PNG. */
function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: '#1d4ed8' } })
    .png()
    .toBuffer();
}

async function start(imports: ModuleMetadata['imports']): Promise<INestApplication> {
  @Module({ imports, controllers: [LogosController] })
  class LogosModule {}
  const moduleRef = await Test.createTestingModule({ imports: [LogosModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('ImageResizeTestingModule', () => {
  let dir: string;
  let wide: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'image-resize-testing-'));
    wide = await png(600, 300);
    writeFileSync(join(dir, 'tall.png'), await png(100, 400));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('imported directly', () => {
    let app: INestApplication;
    let recorder: ImageResizeRecorder;

    beforeAll(async () => {
      app = await start([
        ImageResizeTestingModule.forRoot({
          fixtures: { [`${CDN}/wide.png`]: wide, [`${CDN}/tall.png`]: join(dir, 'tall.png') },
          sources: { allowedHosts: ['cdn.example.com'] },
        }),
      ]);
      recorder = app.get(ImageResizeRecorder);
    });

    beforeEach(() => recorder.clear());
    afterAll(() => app.close());

    it('serves a Buffer fixture resized (MISS), then from the cache (HIT)', async () => {
      const first = await request(app.getHttpServer()).get('/logo/wide');
      expect(first.status).toBe(200);
      expect(first.headers['content-type']).toBe('image/png');
      expect(first.headers['x-cache']).toBe('MISS');
      const meta = await sharp(first.body as Buffer).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 128, 64]);

      const second = await request(app.getHttpServer()).get('/logo/wide');
      expect(second.status).toBe(200);
      expect(second.headers['x-cache']).toBe('HIT');
      expect(Buffer.compare(second.body as Buffer, first.body as Buffer)).toBe(0);
    });

    it('serves a fixture file by its path', async () => {
      const res = await request(app.getHttpServer()).get('/logo/tall');
      expect(res.status).toBe(200);
      const meta = await sharp(res.body as Buffer).metadata();
      expect([meta.width, meta.height]).toEqual([32, 128]);
    });

    it('records one resize for two requests of the same image', async () => {
      // Whatever an earlier test cached of it is gone: the first request below is a miss.
      await app.get(ImageResizeService).purge('logo_tall');

      await request(app.getHttpServer()).get('/logo/tall').expect(200);
      await request(app.getHttpServer()).get('/logo/tall').expect(200);
      expect(recorder.resizes).toEqual([
        { source: `${CDN}/tall.png`, cacheKey: 'logo_tall', width: 128, height: 128, format: 'png' },
      ]);
    });

    it('answers 404 for a URL without a fixture, as the origin would, and records nothing', async () => {
      const res = await request(app.getHttpServer()).get('/logo/missing');
      expect(res.status).toBe(404);
      expect(recorder.resizes).toEqual([]);
    });

    it('applies the sources policy to fixture URLs: a host not allowed answers 403', async () => {
      await request(app.getHttpServer()).get('/elsewhere').expect(403);
    });

    it('loads Buffer sources as ImageResizeModule does, and records their kind', async () => {
      const service = app.get(ImageResizeService);
      const spec = { width: 50, height: 50, format: 'webp' as const, cacheKey: 'direct_buffer' };
      const first = await service.resize(wide, spec);
      const second = await service.resize(wide, spec);
      expect([first.cacheStatus, second.cacheStatus]).toEqual(['MISS', 'HIT']);
      expect([first.width, first.height, first.format]).toEqual([50, 25, 'webp']);
      expect(recorder.resizes).toEqual([
        { source: 'buffer', cacheKey: 'direct_buffer', width: 50, height: 50, format: 'webp' },
      ]);
    });

    it('records the cacheKey as undefined when the library derives it from the URL', async () => {
      await app.get(ImageResizeService).resize(`${CDN}/wide.png`, { width: 20, height: 20, dpr: 2 });
      expect(recorder.resizes).toEqual([
        { source: `${CDN}/wide.png`, cacheKey: undefined, width: 40, height: 40, format: 'png' },
      ]);
    });
  });

  /** `root` started with its ImageResizeModule registration swapped for the testing module. */
  async function overridden(root: Type<unknown>): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({ imports: [root] })
      .overrideModule(findImageResizeModule(root))
      .useModule(ImageResizeTestingModule.forRoot({ fixtures: { [`${CDN}/wide.png`]: wide } }))
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  describe('in place of an app registration made with forRootAsync', () => {
    it('replaces it through overrideModule(findImageResizeModule(AppModule))', async () => {
      const useFactory = jest.fn(() => ({ redis: 'redis://127.0.0.1:1' }));
      @Module({
        imports: [ImageResizeModule.forRootAsync({ useFactory })],
        controllers: [LogosController],
      })
      class FeatureModule {}
      @Module({ imports: [FeatureModule] })
      class AppModule {}

      const app = await overridden(AppModule);
      try {
        const res = await request(app.getHttpServer()).get('/logo/wide');
        expect(res.status).toBe(200);
        expect(res.headers['x-cache']).toBe('MISS');
        expect(app.get(ImageResizeRecorder).resizes).toHaveLength(1);
        expect(useFactory).not.toHaveBeenCalled();
        expect((await app.get(ImageResizeService).health()).cache).toBe('MemoryImageCache');
      } finally {
        await app.close();
      }
    });

    it('replaces a registration that a shared module re-exports', async () => {
      @Module({ imports: [ImageResizeModule.forRoot({ ttl: 60 })], exports: [ImageResizeModule] })
      class ImagesModule {}
      @Module({ imports: [ImagesModule], controllers: [LogosController] })
      class AppModule {}

      const app = await overridden(AppModule);
      try {
        const res = await request(app.getHttpServer()).get('/logo/wide');
        expect(res.status).toBe(200);
        expect(app.get(ImageResizeRecorder).resizes).toHaveLength(1);
      } finally {
        await app.close();
      }
    });

    it('leaves no image worker behind once the app is closed', async () => {
      @Module({ imports: [ImageResizeModule.forRoot()], controllers: [LogosController] })
      class AppModule {}
      const app = await overridden(AppModule);
      expect((await request(app.getHttpServer()).get('/logo/wide')).status).toBe(200);
      expect(workerPids().length).toBeGreaterThan(0);
      await app.close();
      expect(workerPids()).toEqual([]);
    });

    it('findImageResizeModule says so when the app does not register ImageResizeModule', () => {
      @Module({})
      class EmptyModule {}
      expect(() => findImageResizeModule(EmptyModule)).toThrow(
        /EmptyModule does not import ImageResizeModule/,
      );
    });
  });

  describe('forRoot', () => {
    it('refuses a fixture file that does not exist', () => {
      expect(() =>
        ImageResizeTestingModule.forRoot({ fixtures: { [`${CDN}/a.png`]: join(dir, 'nope.png') } }),
      ).toThrow(/fixture file of https:\/\/cdn\.example\.com\/a\.png does not exist/);
    });

    it('refuses a fixture key that is not an absolute URL', () => {
      expect(() => ImageResizeTestingModule.forRoot({ fixtures: { '/a.png': wide } })).toThrow(
        /not an absolute URL/,
      );
    });

    it('refuses a cache backend option', () => {
      const options = { redis: 'redis://127.0.0.1:6379' } as unknown as ImageResizeTestingOptions;
      expect(() => ImageResizeTestingModule.forRoot(options)).toThrow(/remove the option "redis"/);
    });
  });
});
