import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  ImageNotFoundError,
  ImageResizeModule,
  ImageResizeService,
  InvalidImageError,
  InvalidResizeSpecError,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import { photoJpeg, transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { LOOPBACK_ORIGIN } from './support/test-app';

describe('ImageResizeService without the decorator', () => {
  let moduleRef: TestingModule;
  let service: ImageResizeService;
  let origin: TestOrigin;
  let png: Buffer;
  let dir: string;

  beforeAll(async () => {
    png = await transparentPng();
    origin = await startOrigin({
      '/logo.png': { contentType: 'image/png', body: png },
    });
    dir = await mkdtemp(join(tmpdir(), 'image-resize-'));
    moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN })],
    }).compile();
    service = moduleRef.get(ImageResizeService);
  });

  afterAll(async () => {
    await moduleRef.close();
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('resizes a Buffer, caching it under a hash of its bytes', async () => {
    const spec = { width: 50, height: 50, format: 'webp' as const };
    const first = await service.resize(png, spec);
    expect([first.cacheStatus, first.format, first.contentType, first.width, first.height]).toEqual([
      'MISS',
      'webp',
      'image/webp',
      50,
      25,
    ]);
    expect(first.key).toMatch(/^image_resize_buf~[0-9a-f]{40}_50_50_webp$/);
    const second = await service.resize(Buffer.from(png), spec);
    expect(second.cacheStatus).toBe('HIT');
    expect(second.etag).toBe(first.etag);
  });

  it('resizes a stream and a file', async () => {
    const jpeg = await photoJpeg();
    const fromStream = await service.resize(Readable.from([jpeg.subarray(0, 100), jpeg.subarray(100)]), {
      width: 30,
      height: 30,
      format: 'jpeg',
    });
    expect([fromStream.width, fromStream.height]).toEqual([30, 15]);
    const path = join(dir, 'photo.jpg');
    await writeFile(path, jpeg);
    const fromFile = await service.resize(
      { path, cacheKey: 'photo' },
      { width: 30, height: 30, format: 'avif' },
    );
    expect(fromFile.contentType).toBe('image/avif');
    expect((await sharp(fromFile.body).metadata()).format).toBe('heif');
    await expect(
      service.resize({ path: join(dir, 'missing.jpg') }, { width: 30, height: 30 }),
    ).rejects.toThrow(ImageNotFoundError);
  });

  it('destroys a stream source that a cache hit made unnecessary', async () => {
    const spec = { width: 20, height: 20, cacheKey: 'streamed' };
    await service.resize(Readable.from([png]), spec);
    const unread = Readable.from([png]);
    const hit = await service.resize(unread, spec);
    expect(hit.cacheStatus).toBe('HIT');
    expect(unread.destroyed).toBe(true);
  });

  it('keeps /x and /x?y apart when the cacheKey comes from the URL', async () => {
    const a = await service.resize(`${origin.url}/logo.png`, { width: 40, height: 40 });
    const b = await service.resize(`${origin.url}/logo.png?v=2`, { width: 40, height: 40 });
    expect(a.key).not.toBe(b.key);
  });

  it('does the work once for concurrent misses of one key, and shares a failure without caching it', async () => {
    origin.hits.clear();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        service.resize({ url: `${origin.url}/logo.png`, cacheKey: 'concurrent' }, { width: 64, height: 64 }),
      ),
    );
    expect(origin.hits.get('/logo.png')).toBe(1);
    expect(new Set(results.map((r) => r.etag)).size).toBe(1);

    origin.routes.set('/flaky.png', { contentType: 'image/png', body: 'not an image' });
    const failures = await Promise.allSettled(
      Array.from({ length: 5 }, () =>
        service.resize({ url: `${origin.url}/flaky.png`, cacheKey: 'flaky' }, { width: 64, height: 64 }),
      ),
    );
    expect(failures.every((f) => f.status === 'rejected' && f.reason instanceof InvalidImageError)).toBe(
      true,
    );
    expect(origin.hits.get('/flaky.png')).toBe(1);
    origin.routes.set('/flaky.png', { contentType: 'image/png', body: png });
    const recovered = await service.resize(
      { url: `${origin.url}/flaky.png`, cacheKey: 'flaky' },
      { width: 64, height: 64 },
    );
    expect(recovered.cacheStatus).toBe('MISS');
  });

  it.each([
    [{ width: 0, height: 10 }, /^width must be an integer from 1 to 4096 \(got the number 0\)$/],
    [{ width: 10, height: 5000 }, /^height must be an integer from 1 to 4096 \(got the number 5000\)$/],
    [{ width: 10.5, height: 10 }, /^width must be an integer from 1 to 4096 \(got the number 10\.5\)$/],
    [
      { width: 10, height: 10, format: 'gif' },
      /^format must be one of png, jpeg, webp, avif, auto \(got a string "gif"\)$/,
    ],
    [
      { width: 10, height: 10, fit: 'stretch' },
      /^fit must be one of inside, cover, contain, fill, outside \(got a string "stretch"\)$/,
    ],
    [
      { width: 10, height: 10, quality: 0 },
      /^quality must be an integer from 1 to 100 \(got the number 0\)$/,
    ],
    [{ width: 10, height: 10, cacheKey: 'has space' }, /cacheKey must be/],
  ])('refuses the spec %j with a 400 that says what to fix', async (spec, message) => {
    const error = await service.resize(png, spec as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidResizeSpecError);
    expect((error as InvalidResizeSpecError).getStatus()).toBe(400);
    expect((error as Error).message).toMatch(message);
  });
});
