/**
 * (h) placeholders: `ImageResizeService.placeholder()` called in this process (no HTTP), against bare
 * sharp on the same input in the same process, started by bench/run.ts on the server core (the image
 * workers the library starts inherit it). Prints its measurements as one line of JSON, last.
 *
 * Usage: `node placeholder-subject.js <fixtures> <misses> <hits> <redis-url>`
 *
 * - misses: per original (the fixture photo and the example app's logos), `misses` placeholders under
 *   new cacheKeys, one after another, each followed by the same work in this process (the library's
 *   own `placeholderOf`, without the pool) and by bare `sharp(input).resize(16).webp()`;
 * - hits: `hits` calls for a cached placeholder of the photo, with the in-memory cache, Redis with
 *   the hot cache, and Redis alone, each after 200 unmeasured ones; with Redis, alternating with an
 *   ioredis `getBuffer` of the key the library stored it under.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type LogLevel, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import {
  IMAGE_RESIZE_OPTIONS,
  type ImagePlaceholder,
  ImageResizeModule,
  type ImageResizeModuleOptions,
  ImageResizeService,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import { OriginalsService } from '../../src/originals/originals.service';
import type { PlaceholderHit, PlaceholderRow, PlaceholderSection, Spread } from '../lib/report';

/** The library's placeholder work as its image workers run it; internal, so loaded from the build. */
type PlaceholderOf = (
  open: typeof sharp,
  input: Buffer,
  limits: { maxInputPixels: number; maxDecodedBytes: number; maxAnimationFrames: number; allowSvg: boolean },
) => Promise<ImagePlaceholder>;
/** The package's build (its main, dist/index.js), whose page/placeholder.work.js holds it. */
const built = dirname(require.resolve('nestjs-image-resize'));
// eslint-disable-next-line @typescript-eslint/no-require-imports -- not exported by the package
const { placeholderOf } = require(join(built, 'page', 'placeholder.work.js')) as {
  placeholderOf: PlaceholderOf;
};

const WARM_HITS = 200;

/** Median and p95 (nearest rank) of `values`. */
function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const p50 = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { p50, p95: sorted[Math.max(0, Math.ceil(sorted.length * 0.95) - 1)] };
}

/** Wall-clock milliseconds of `work`. */
async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const began = process.hrtime.bigint();
  const result = await work();
  return [Number(process.hrtime.bigint() - began) / 1e6, result];
}

async function context(options: ImageResizeModuleOptions) {
  @Module({ imports: [ImageResizeModule.forRoot(options)] })
  class PlaceholderBenchModule {}
  const logger: LogLevel[] = ['error', 'warn'];
  const app = await NestFactory.createApplicationContext(PlaceholderBenchModule, { logger });
  const close = async () => {
    // The library's image workers are unref'd, and close() waits for them to exit: with nothing else
    // keeping this process alive (no HTTP server), it would end inside close(), leaving the rest unrun.
    const alive = setInterval(() => undefined, 1000);
    await app.close().finally(() => clearInterval(alive));
  };
  return { app, images: app.get(ImageResizeService), close };
}

/** The originals: the bench's photo, and the example app's logos as it draws them. */
async function originals(fixtures: string): Promise<Array<{ name: string; body: Buffer }>> {
  const example = new OriginalsService();
  await example.onModuleInit();
  const logo = (name: string) => ({ name, body: example.get(name)!.body });
  return [
    { name: 'photo.jpg', body: readFileSync(join(fixtures, 'photo.jpg')) },
    logo('aurora.png'),
    logo('basalt.jpg'),
    logo('cobalt.png'),
  ];
}

async function misses(
  images: ImageResizeService,
  limits: Parameters<PlaceholderOf>[2],
  name: string,
  input: Buffer,
  count: number,
): Promise<PlaceholderRow> {
  const bare = () => sharp(input).resize(16).webp().toBuffer();
  const source = (cacheKey: string) => ({ buffer: input, cacheKey });
  // One unmeasured of each, so that the worker, the encoders and the decoders are loaded.
  await images.placeholder(source(`bench_ph_warm_${name}`));
  await placeholderOf(sharp, input, limits);
  await bare();
  const library: number[] = [];
  const work: number[] = [];
  const sharpMs: number[] = [];
  let made: ImagePlaceholder | undefined;
  let bareBytes = 0;
  for (let i = 0; i < count; i++) {
    const [ms, placeholder] = await timed(() => images.placeholder(source(`bench_ph_miss_${name}_${i}`)));
    library.push(ms);
    made = placeholder;
    work.push((await timed(() => placeholderOf(sharp, input, limits)))[0]);
    const [bareMs, webp] = await timed(bare);
    sharpMs.push(bareMs);
    bareBytes = `data:image/webp;base64,${webp.toString('base64')}`.length;
  }
  const { width = 0, height = 0, format = '?' } = await sharp(input).metadata();
  const row: PlaceholderRow = {
    original: name,
    width,
    height,
    format,
    inputBytes: input.length,
    libraryMs: spread(library),
    workMs: spread(work),
    sharpMs: spread(sharpMs),
    ratio: spread(library).p50 / spread(sharpMs).p50,
    bytes: made!.bytes,
    sharpBytes: bareBytes,
    color: made!.color,
  };
  return row;
}

/** `count` hits (after {@link WARM_HITS}), alternating with `baseline` when there is one; in µs. */
async function hits(
  images: ImageResizeService,
  cacheKey: string,
  input: Buffer,
  count: number,
  backend: string,
  baseline?: { name: string; call: () => Promise<unknown> },
): Promise<PlaceholderHit> {
  const call = () => images.placeholder({ buffer: input, cacheKey });
  for (let i = 0; i < WARM_HITS; i++) {
    await call();
    await baseline?.call();
  }
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < count; i++) {
    ours.push((await timed(call))[0] * 1000);
    if (baseline) theirs.push((await timed(baseline.call))[0] * 1000);
  }
  return {
    backend,
    us: spread(ours),
    ...(baseline ? { baseline: { name: baseline.name, us: spread(theirs) } } : {}),
  };
}

async function main(): Promise<void> {
  const [fixtures, missCount, hitCount, redisUrl] = process.argv.slice(2);
  const count = Number(hitCount);
  const inputs = await originals(fixtures);
  const photo = inputs[0].body;
  const began = Date.now();

  const memory = await context({});
  const options = memory.app.get<{
    maxInputPixels: number;
    maxDecodedBytes: number;
    maxAnimationFrames: number;
    allowSvg: boolean;
    concurrency: number;
  }>(IMAGE_RESIZE_OPTIONS);
  const limits = {
    maxInputPixels: options.maxInputPixels,
    maxDecodedBytes: options.maxDecodedBytes,
    maxAnimationFrames: options.maxAnimationFrames,
    allowSvg: options.allowSvg,
  };
  const rows: PlaceholderRow[] = [];
  for (const { name, body } of inputs)
    rows.push(await misses(memory.images, limits, name, body, Number(missCount)));
  const hitRows = [await hits(memory.images, 'bench_ph_miss_photo.jpg_0', photo, count, 'in-memory')];
  await memory.close();

  // Made once (a miss) with the hot cache; the second context finds it in Redis.
  const client = new Redis(redisUrl);
  const withHot = await context({ redis: redisUrl });
  await withHot.images.placeholder({ buffer: photo, cacheKey: 'bench_ph_redis' });
  const [key] = await client.keys('*bench_ph_redis*placeholder*');
  if (!key) throw new Error('the placeholder is not in Redis');
  const getBuffer = { name: 'ioredis getBuffer', call: () => client.getBuffer(key) };
  hitRows.push(await hits(withHot.images, 'bench_ph_redis', photo, count, 'Redis + hot cache', getBuffer));
  await withHot.close();
  const redisOnly = await context({ redis: redisUrl, hotCache: false });
  hitRows.push(await hits(redisOnly.images, 'bench_ph_redis', photo, count, 'Redis only', getBuffer));
  await redisOnly.close();
  client.disconnect();

  const section: PlaceholderSection = {
    misses: Number(missCount),
    hits: count,
    workers: options.concurrency,
    seconds: (Date.now() - began) / 1000,
    rows,
    hitRows,
  };
  process.stdout.write(`\n${JSON.stringify(section)}\n`);
  finished = true;
}

/** Set once everything is measured: a process that ends otherwise (a promise that never settled) failed. */
let finished = false;

if (require.main === module) {
  process.once('exit', (code) => {
    if (code === 0 && !finished) {
      console.error('placeholder-subject ended before it had measured everything (a promise never settled)');
      process.exitCode = 1;
    }
  });
  main().catch((error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  });
}
