import { Controller, Get, Injectable, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  type CachedImage,
  type ImageCache,
  type ImageCacheKey,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ResizedImage,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { MemoryImageCache } from '../libs/image-resize/src/cache/memory-image.cache';
import { binary } from './support/binary';
import { noisyJpeg, transparentPng } from './support/fixtures';
import { startTestRedis, type TestRedis } from './support/redis-server';

/**
 * Issue "Cache truth", part 5: two instances of an app share one cache store and differ in their
 * encoder settings, as during a rolling deploy that changes `encoders`. Whatever the setting —
 * including those of the PNG-or-JPEG fallback, decided in the child from the image — the instance
 * with the new setting must make its own entry, never be served the bytes made under the old one.
 */

let photo: Buffer;
let logo: Buffer;

/** Each row has its own cacheKey (`kco_<row>`), so that rows never see each other's entries. */
@Controller()
class OutputController {
  @Get(':row/fallback-photo')
  @ResizedImage({ width: 64, height: 64, format: 'auto' })
  fallbackPhoto(@Param('row') row: string) {
    return { buffer: photo, cacheKey: `kco_${row}` };
  }

  @Get(':row/jpeg-photo')
  @ResizedImage({ width: 64, height: 64, format: 'jpeg' })
  jpegPhoto(@Param('row') row: string) {
    return { buffer: photo, cacheKey: `kco_${row}` };
  }

  @Get(':row/avif-photo')
  @ResizedImage({ width: 64, height: 64, format: 'avif' })
  avifPhoto(@Param('row') row: string) {
    return { buffer: photo, cacheKey: `kco_${row}` };
  }

  @Get(':row/fallback-logo')
  @ResizedImage({ width: 64, height: 64, format: 'auto' })
  fallbackLogo(@Param('row') row: string) {
    return { buffer: logo, cacheKey: `kco_${row}` };
  }

  @Get(':row/png-logo')
  @ResizedImage({ width: 64, height: 64, format: 'png' })
  pngLogo(@Param('row') row: string) {
    return { buffer: logo, cacheKey: `kco_${row}` };
  }
}

/** One in-memory store behind every instance that uses this class, as one Redis is behind many. */
const sharedStore = new MemoryImageCache(64 * 1024 * 1024);

@Injectable()
class SharedMemoryCache implements ImageCache {
  get(key: string): Promise<CachedImage | undefined> {
    return sharedStore.get(key);
  }
  set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void> {
    return sharedStore.set(ref, image, ttlSeconds);
  }
  purge(group: string): Promise<number> {
    return sharedStore.purge(group);
  }
}

/** The sum of a JPEG's first quantisation table (luma): the lower the quality, the larger it is. */
function lumaQuantisation(jpeg: Buffer): number {
  let offset = 2; // after SOI
  while (offset + 4 <= jpeg.length) {
    if (jpeg[offset] !== 0xff) throw new Error(`no JPEG marker at ${offset}`);
    const marker = jpeg[offset + 1];
    const length = jpeg.readUInt16BE(offset + 2);
    if (marker === 0xdb) {
      const sixteenBit = jpeg[offset + 4] >> 4 === 1;
      let sum = 0;
      for (let i = 0; i < 64; i++) {
        sum += sixteenBit ? jpeg.readUInt16BE(offset + 5 + 2 * i) : jpeg[offset + 5 + i];
      }
      return sum;
    }
    offset += 2 + length;
  }
  throw new Error('JPEG without a quantisation table');
}

interface Row {
  /** Names the row's route prefix and cacheKey. */
  row: string;
  setting: string;
  path: string;
  accept?: string;
  /** The second instance's encoder settings (the first has the built-in ones). */
  encoders: NonNullable<ImageResizeModuleRootOptions['encoders']>;
  contentType: string;
  /** What the second instance's image must show against the first one's. */
  differs?: (before: Buffer, after: Buffer) => Promise<void>;
}

const lowerJpegQuality = async (before: Buffer, after: Buffer) => {
  expect(lumaQuantisation(after)).toBeGreaterThan(lumaQuantisation(before));
  expect(after.length).toBeLessThan(before.length);
};
const smaller = async (before: Buffer, after: Buffer) => {
  expect(after.equals(before)).toBe(false);
  expect(after.length).toBeLessThan(before.length);
};
const paletteOnlyAfter = async (before: Buffer, after: Buffer) => {
  expect((await sharp(before).metadata()).isPalette).toBe(false);
  expect((await sharp(after).metadata()).isPalette).toBe(true);
};

const rows: Row[] = [
  {
    row: 'fallback_jpeg',
    setting: 'encoders.jpeg.quality, alpha fallback to JPEG (opaque photo)',
    path: 'fallback-photo',
    accept: '*/*',
    encoders: { jpeg: { quality: 20 } },
    contentType: 'image/jpeg',
    differs: lowerJpegQuality,
  },
  {
    row: 'named_fallback_jpeg',
    setting: 'encoders.jpeg.quality, fixed JPEG',
    path: 'jpeg-photo',
    encoders: { jpeg: { quality: 20 } },
    contentType: 'image/jpeg',
    differs: lowerJpegQuality,
  },
  {
    row: 'webp',
    setting: 'encoders.webp.quality, negotiated WebP',
    path: 'fallback-photo',
    accept: 'image/webp,*/*',
    encoders: { webp: { quality: 20 } },
    contentType: 'image/webp',
    differs: smaller,
  },
  {
    row: 'avif_quality',
    setting: 'encoders.avif.quality, fixed AVIF',
    path: 'avif-photo',
    encoders: { avif: { quality: 20 } },
    contentType: 'image/avif',
    differs: smaller,
  },
  {
    row: 'avif_effort',
    setting: 'encoders.avif.effort, negotiated AVIF',
    path: 'fallback-photo',
    accept: 'image/avif,*/*',
    encoders: { avif: { effort: 0 } },
    contentType: 'image/avif',
    // Another effort may happen to give the same bytes: the MISS is what shows the new entry.
  },
  {
    row: 'fallback_png',
    setting: 'encoders.png.palette, alpha fallback to PNG (transparent logo)',
    path: 'fallback-logo',
    accept: '*/*',
    encoders: { png: { palette: true } },
    contentType: 'image/png',
    differs: paletteOnlyAfter,
  },
  {
    row: 'png',
    setting: 'encoders.png.palette, fixed PNG',
    path: 'png-logo',
    encoders: { png: { palette: true } },
    contentType: 'image/png',
    differs: paletteOnlyAfter,
  },
];

interface Backend {
  name: string;
  /** Starts the store; resolves to the module options that put both instances on it. */
  start(): Promise<ImageResizeModuleRootOptions>;
  stop?(): Promise<void>;
}

let redis: TestRedis | undefined;
const backends: Backend[] = [
  {
    name: 'one in-memory store (the cache extra)',
    start: async () => ({ cache: SharedMemoryCache }),
  },
  {
    name: 'one Redis',
    start: async () => {
      redis = await startTestRedis();
      return { redis: redis.url, keyPrefix: 'kco_test_' };
    },
    stop: async () => redis?.stop(),
  },
];

describe.each(backends)('the cache key covers the output: two instances on $name', ({ start, stop }) => {
  const apps: INestApplication[] = [];
  let shared: ImageResizeModuleRootOptions;
  let before: INestApplication;

  async function instance(encoders?: Row['encoders']): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ ...shared, concurrency: 1, ...(encoders ? { encoders } : {}) })],
      controllers: [OutputController],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    apps.push(app);
    return app;
  }

  const get = (app: INestApplication, path: string, accept = '*/*') =>
    request(app.getHttpServer()).get(path).set('Accept', accept).buffer(true).parse(binary);

  beforeAll(async () => {
    // Noise, so that every quality gives other bytes.
    photo = await noisyJpeg();
    logo = await transparentPng();
    shared = await start();
    before = await instance();
  }, 30_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await stop?.();
  });

  it.each(rows)(
    '$setting: the instance with the changed setting makes its own image',
    async ({ row, path, accept, encoders, contentType, differs }) => {
      const url = `/${row}/${path}`;
      const first = await get(before, url, accept);
      expect([first.status, first.headers['x-cache'], first.headers['content-type']]).toEqual([
        200,
        'MISS',
        contentType,
      ]);
      // The store is shared and used: the first instance hits its own entry.
      expect((await get(before, url, accept)).headers['x-cache']).toBe('HIT');

      const after = await instance(encoders);
      const changed = await get(after, url, accept);
      expect([changed.status, changed.headers['x-cache'], changed.headers['content-type']]).toEqual([
        200,
        'MISS',
        contentType,
      ]);
      await differs?.(first.body as Buffer, changed.body as Buffer);

      // From now on each instance is served the image made under its own settings.
      const again = await get(after, url, accept);
      expect(again.headers['x-cache']).toBe('HIT');
      expect((again.body as Buffer).equals(changed.body as Buffer)).toBe(true);
      const old = await get(before, url, accept);
      expect(old.headers['x-cache']).toBe('HIT');
      expect((old.body as Buffer).equals(first.body as Buffer)).toBe(true);
    },
  );

  it('shares the entry with an instance that names the built-in settings explicitly', async () => {
    const url = '/builtin/fallback-photo';
    const first = await get(before, url);
    expect([first.status, first.headers['x-cache']]).toEqual([200, 'MISS']);
    const explicit = await instance({
      jpeg: { quality: 80 },
      webp: { quality: 80 },
      avif: { quality: 50, effort: 3 },
      png: { palette: false },
    });
    const same = await get(explicit, url);
    expect([same.status, same.headers['x-cache'], same.headers.etag]).toEqual([
      200,
      'HIT',
      first.headers.etag,
    ]);
    expect((same.body as Buffer).equals(first.body as Buffer)).toBe(true);
  });
});
