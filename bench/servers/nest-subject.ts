/**
 * The library as the benchmark measures it: a Nest application with `@ResizedImage()` routes, started
 * by bench/run.ts as a process of its own. Configured by the environment:
 *
 * - `PORT`: where it listens (127.0.0.1)
 * - `FIXTURES`: the folder with `logo.png` and `photo.jpg`
 * - `REDIS_URL`: cache in Redis (default: the in-memory cache)
 * - `HOT_CACHE=off`: no in-process tier in front of Redis
 * - `CACHE_MAX_BYTES`: bound of the in-memory cache (default: the library's)
 * - `PLATFORM=fastify`: Nest on Fastify (`@nestjs/platform-fastify`) instead of Express
 * - `ORIGIN`: base URL of the origin that serves the originals for URL sources
 * - `BOMBS`: a folder of hostile originals served by `/attack/<file>/<key>` (and `slow.png` by
 *   `/attack-slow/<key>`); also allows SVG and limits processing to 2 s, as an exposed service would
 * - `DISTINCT`: a folder of distinct photos (`photo-<n>.jpg`), served by `/distinct/<n>/<key>.<format>`
 */
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Inject, Injectable, type LogLevel, Module, Param, Res } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Response } from 'express';
import type { FastifyReply } from 'fastify';
import {
  IMAGE_RESIZE_CACHE,
  type ImageCache,
  ImageResizeMetrics,
  ImageResizeModule,
  type ImageResizeModuleOptions,
  ResizedImage,
} from 'nestjs-image-resize';

const fixtures = process.env.FIXTURES ?? '.';
const logo = readFileSync(join(fixtures, 'logo.png'));
const photo = readFileSync(join(fixtures, 'photo.jpg'));
const photoPath = join(fixtures, 'photo.jpg');
/** The hostile originals of the attack section, by file name. */
const bombs = new Map<string, Buffer>(
  process.env.BOMBS
    ? readdirSync(process.env.BOMBS).map((name) => [name, readFileSync(join(process.env.BOMBS!, name))])
    : [],
);

/** The distinct photos of the concurrent misses in (c), by number. */
const distinct: Buffer[] = process.env.DISTINCT
  ? readdirSync(process.env.DISTINCT)
      .filter((name) => /^photo-\d+\.jpg$/.test(name))
      .sort((a, b) => parseInt(a.slice(6), 10) - parseInt(b.slice(6), 10))
      .map((name) => readFileSync(join(process.env.DISTINCT!, name)))
  : [];

/** Counts what the library did, for the single-flight measurement. */
@Injectable()
class Counters {
  resized = 0;
  served = 0;
  constructor(
    metrics: ImageResizeMetrics,
    @Inject(IMAGE_RESIZE_CACHE) readonly cache: ImageCache & { size?: number },
  ) {
    metrics.subscribe((event) => {
      if (event.type === 'resized') this.resized += 1;
      if (event.type === 'served') this.served += 1;
    });
  }
}

@Controller()
class BenchController {
  constructor(private readonly counters: Counters) {}

  /** (a), (b), (f): the logo, 256 px PNG; after the first request always a hit. */
  @Get('logo.png')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  logo() {
    return { buffer: logo, cacheKey: 'bench_logo' };
  }

  /** (c), (f): the photo under a cacheKey of the client's choosing, so that each new key is a miss. */
  @Get('photo/:key.jpeg')
  @ResizedImage({ width: 256, height: 256, format: 'jpeg' })
  photoJpeg(@Param('key') key: string) {
    return { buffer: photo, cacheKey: `bench_photo_${key}` };
  }

  @Get('photo/:key.png')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  photoPng(@Param('key') key: string) {
    return { buffer: photo, cacheKey: `bench_photo_${key}` };
  }

  @Get('photo/:key.webp')
  @ResizedImage({ width: 256, height: 256, format: 'webp' })
  photoWebp(@Param('key') key: string) {
    return { buffer: photo, cacheKey: `bench_photo_${key}` };
  }

  @Get('photo/:key.avif')
  @ResizedImage({ width: 256, height: 256, format: 'avif' })
  photoAvif(@Param('key') key: string) {
    return { buffer: photo, cacheKey: `bench_photo_${key}` };
  }

  /** (c), concurrent misses: distinct photos, each under a cacheKey of the client's choosing. */
  @Get('distinct/:index/:key.jpeg')
  @ResizedImage({ width: 256, height: 256, format: 'jpeg' })
  distinctJpeg(@Param('index') index: string, @Param('key') key: string) {
    return this.distinctPhoto(index, key);
  }

  @Get('distinct/:index/:key.png')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  distinctPng(@Param('index') index: string, @Param('key') key: string) {
    return this.distinctPhoto(index, key);
  }

  @Get('distinct/:index/:key.webp')
  @ResizedImage({ width: 256, height: 256, format: 'webp' })
  distinctWebp(@Param('index') index: string, @Param('key') key: string) {
    return this.distinctPhoto(index, key);
  }

  @Get('distinct/:index/:key.avif')
  @ResizedImage({ width: 256, height: 256, format: 'avif' })
  distinctAvif(@Param('index') index: string, @Param('key') key: string) {
    return this.distinctPhoto(index, key);
  }

  private distinctPhoto(index: string, key: string) {
    const body = distinct[Number(index)];
    return body ? { buffer: body, cacheKey: `bench_distinct_${index}_${key}` } : null;
  }

  /** (d): the logo fetched from the origin, under a new cacheKey per round. */
  @Get('remote/:key.png')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  remote(@Param('key') key: string) {
    return { url: `${process.env.ORIGIN}/logo.png?round=${key}`, cacheKey: `bench_remote_${key}` };
  }

  /** (e): the photo from its file, 256 px wide JPEG at quality 75, as the peers are asked for it. */
  @Get('peer/photo.jpg')
  @ResizedImage({ width: 256, height: 256, format: 'jpeg', quality: 75 })
  peer() {
    return { path: photoPath, cacheKey: 'bench_peer_photo' };
  }

  /** (g): a hostile original under a new cacheKey each time. */
  @Get('attack/:name/:key')
  @ResizedImage({ width: 128, height: 128, format: 'png' })
  attack(@Param('name') name: string, @Param('key') key: string) {
    const body = bombs.get(name);
    return body ? { buffer: body, cacheKey: `bench_attack_${name}_${key}` } : null;
  }

  /** (g): work that outlives the 2 s limit (a 2048 px AVIF at effort 9), under a new cacheKey each time. */
  @Get('attack-slow/:key')
  @ResizedImage({ width: 2048, height: 2048, format: 'avif', fit: 'fill' })
  attackSlow(@Param('key') key: string) {
    const body = bombs.get('slow.png');
    return body ? { buffer: body, cacheKey: `bench_attack_slow_${key}` } : null;
  }

  /** What a Nest route costs at best: the same bytes and headers, written by hand, nothing looked up. */
  @Get('ceiling/logo.png')
  ceiling(@Res() res: Response | FastifyReply) {
    const { body, etag } = ceiling;
    const headers: Array<[string, string | number]> = [
      ['Content-Type', 'image/png'],
      ['Cache-Control', 'public, max-age=2592000'],
      ['Expires', new Date(Date.now() + 2592000_000).toUTCString()],
      ['ETag', etag],
      ['X-Cache', 'HIT'],
      ['X-Content-Type-Options', 'nosniff'],
      ['Content-Length', body.length],
    ];
    if ('code' in res) {
      for (const [name, value] of headers) res.header(name, value);
      res.send(body);
    } else {
      for (const [name, value] of headers) res.setHeader(name, value);
      res.end(body);
    }
  }

  /** The counters, and the bytes the in-memory cache holds. */
  @Get('stats')
  stats() {
    const { resized, served, cache } = this.counters;
    // With --expose-gc (the memory runs), the sample is taken after a full collection.
    (globalThis as { gc?: () => void }).gc?.();
    const { heapUsed, external } = process.memoryUsage();
    return { resized, served, cacheBytes: cache.size ?? 0, heapUsed, external };
  }
}

/** What the ceiling route sends: the logo route's own output, set once it has been made. */
const ceiling = { body: Buffer.alloc(0), etag: '' };

function options(): ImageResizeModuleOptions {
  const redis = process.env.REDIS_URL;
  const maxBytes = process.env.CACHE_MAX_BYTES;
  return {
    ...(redis ? { redis, ...(process.env.HOT_CACHE === 'off' ? { hotCache: false } : {}) } : {}),
    ...(maxBytes ? { memory: { maxBytes: Number(maxBytes) } } : {}),
    sources: { allowPrivateNetworks: ['127.0.0.1'] },
    ...(process.env.BOMBS
      ? { allowSvg: true, processingTimeoutMs: 2000, encoders: { avif: { effort: 9 } } }
      : {}),
  };
}

@Module({
  imports: [ImageResizeModule.forRoot(options())],
  controllers: [BenchController],
  providers: [Counters],
})
class BenchModule {}

async function main(): Promise<void> {
  const logger: LogLevel[] = ['error', 'warn'];
  const app =
    process.env.PLATFORM === 'fastify'
      ? await NestFactory.create(BenchModule, new FastifyAdapter(), { logger })
      : await NestFactory.create(BenchModule, { logger });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT), '127.0.0.1');
  const made = await fetch(`http://127.0.0.1:${process.env.PORT}/logo.png`);
  ceiling.body = Buffer.from(await made.arrayBuffer());
  ceiling.etag = made.headers.get('etag') ?? '';
}

void main();
