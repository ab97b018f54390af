import { Controller, Get, Inject, Injectable, type INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  type CachedImage,
  type ImageCache,
  type ImageCacheKey,
  type ImageProcessor,
  IMAGE_RESIZE_OPTIONS,
  type ImageSourceDescriptor,
  type ImageSourceLoader,
  type LoadedSource,
  type ProcessedImage,
  ImageResizeModule,
  ResizedImage,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { IMAGE_RESIZE_REDIS } from '../libs/image-resize/src/image-resize.constants';
import type { RedisConnection } from '../libs/image-resize/src/cache/image-cache.providers';
import { transparentPng } from './support/fixtures';
import { startTestRedis, type TestRedis } from './support/redis-server';

let logo: Buffer;
beforeAll(async () => {
  logo = await transparentPng();
});

@Controller()
class LogoController {
  @Get('logo.png')
  @ResizedImage({ width: 64, height: 64, format: 'png' })
  logo() {
    return { buffer: logo, cacheKey: 'ext_logo' };
  }

  @Get('named.png')
  @ResizedImage({ width: 32, height: 32, format: 'png' })
  named() {
    return { url: 'https://images.example/acme.png', cacheKey: 'ext_named' };
  }
}

/** An app's own cache: a Map, counting what the library asks of it. */
@Injectable()
class MapCache implements ImageCache {
  static last?: MapCache;
  readonly entries = new Map<string, CachedImage>();
  readonly calls: string[] = [];
  constructor(@Inject(IMAGE_RESIZE_OPTIONS) readonly options: { keyPrefix: string }) {
    MapCache.last = this;
  }
  async get(key: string) {
    this.calls.push(`get ${key}`);
    return this.entries.get(key);
  }
  async set(ref: ImageCacheKey, image: CachedImage) {
    this.calls.push(`set ${ref.key}`);
    this.entries.set(ref.key, image);
  }
  async purge() {
    return 0;
  }
}

/** A processor of the app's own, provided by one of its modules: a flat red square of the asked size. */
class RedSquares implements ImageProcessor {
  calls = 0;
  async process(_input: Buffer, spec: { width: number; height: number }): Promise<ProcessedImage> {
    this.calls++;
    const body = await sharp({
      create: { width: spec.width, height: spec.height, channels: 3, background: '#ff0000' },
    })
      .png()
      .toBuffer();
    return { body, contentType: 'image/png', width: spec.width, height: spec.height, format: 'png' };
  }
}
const RED_SQUARES = Symbol('RED_SQUARES');

@Module({ providers: [{ provide: RED_SQUARES, useClass: RedSquares }], exports: [RED_SQUARES] })
class ProcessingModule {}

/** A loader that reads URLs from a map instead of the network. */
@Injectable()
class MapLoader implements ImageSourceLoader {
  static seen: string[] = [];
  async load(source: ImageSourceDescriptor): Promise<LoadedSource> {
    MapLoader.seen.push(source.url ?? '(not a url)');
    return { body: source.buffer ?? logo };
  }
}

async function start(imports: unknown[]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    controllers: [LogoController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('extension points: cache, processor and sourceLoader as module options', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('cache: a class of the app, made by the module with DI, holds the images', async () => {
    app = await start([ImageResizeModule.forRoot({ cache: MapCache })]);
    const first = await request(app.getHttpServer()).get('/logo.png');
    const second = await request(app.getHttpServer()).get('/logo.png');
    expect([first.status, first.headers['x-cache'], second.headers['x-cache']]).toEqual([200, 'MISS', 'HIT']);
    const cache = MapCache.last!;
    expect(cache.options.keyPrefix).toBe('image_resize_');
    expect([...cache.entries.keys()]).toEqual(['image_resize_ext_logo_64_64_png']);
    expect(cache.calls).toEqual([
      'get image_resize_ext_logo_64_64_png',
      'set image_resize_ext_logo_64_64_png',
      'get image_resize_ext_logo_64_64_png',
    ]);
    expect(Buffer.compare(cache.entries.get('image_resize_ext_logo_64_64_png')!.body, second.body)).toBe(0);
  });

  it('processor: an existing provider of the app, from the imports of forRootAsync', async () => {
    app = await start([
      ImageResizeModule.forRootAsync({
        imports: [ProcessingModule],
        useFactory: () => ({}),
        processor: { useExisting: RED_SQUARES },
      }),
    ]);
    const response = await request(app.getHttpServer()).get('/logo.png');
    expect(response.status).toBe(200);
    const { data, info } = await sharp(response.body).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([64, 64]);
    expect([...data.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect(app.get<RedSquares>(RED_SQUARES, { strict: false }).calls).toBe(1);
  });

  it('sourceLoader: a class of the app loads the URLs (no network, no address policy)', async () => {
    MapLoader.seen = [];
    app = await start([ImageResizeModule.forRoot({ sourceLoader: MapLoader })]);
    const response = await request(app.getHttpServer()).get('/named.png');
    expect(response.status).toBe(200);
    expect(MapLoader.seen).toEqual(['https://images.example/acme.png']);
  });

  it.each([
    [
      'cache',
      'MemoryImageCache',
      'option "cache" must be a class or { useExisting: <provider token> }, not "MemoryImageCache"',
    ],
    ['processor', {}, 'option "processor" must be a class or { useExisting: <provider token> }, not {}'],
    [
      'sourceLoader',
      null,
      'option "sourceLoader" must be a class or { useExisting: <provider token> }, not null',
    ],
  ])('refuses %s given as %p, saying what it takes', (name, value, message) => {
    expect(() => ImageResizeModule.forRoot({ [name]: value } as never)).toThrow(message);
  });
});

describe('the Redis connection', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(() => redis.stop());

  it('closes itself when the application shuts down, even when an own cache does not use it', async () => {
    const app = await start([
      ImageResizeModule.forRoot({ redis: redis.url, keyPrefix: 'ext_conn_', cache: MapCache }),
    ]);
    const connection = app.get<RedisConnection>(IMAGE_RESIZE_REDIS, { strict: false });
    expect(connection.client.status).toBe('ready');
    expect((await request(app.getHttpServer()).get('/logo.png')).status).toBe(200);
    await app.close();
    expect(connection.client.status).toBe('end');
  });
});
