/**
 * (c) where a miss's time goes: the photo resized by the library at each of its layers, in this
 * process (no HTTP), against bare sharp, started by bench/run.ts on the server core (the image
 * workers the library starts inherit it). Prints its measurements as one line of JSON, last.
 *
 * Usage: `node miss-subject.js <photo> <misses> <rounds>`
 *
 * Per format, `rounds` x `misses` times, in turn (the order rotating from one time to the next):
 * - bare sharp: the pipeline alone (`resizeLikeTheLibrary`);
 * - the work in this process: what `SharpImageProcessor.process` does without its child process —
 *   the container checks, the header, then `makeImage` itself;
 * - the processor: the same through the pool: the input to /dev/shm, the child, the round trip;
 * - the service: `ImageResizeService.resize` of a new cacheKey: lookup, the processor, ETag, store.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type LogLevel, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_OPTIONS,
  type ImageProcessor,
  ImageResizeModule,
  ImageResizeService,
  type ResolvedResizeSpec,
} from 'nestjs-image-resize';
import type { MissBreakdownRow } from '../lib/report';
import { resizeLikeTheLibrary } from './sharp-baseline';

type Format = 'jpeg' | 'png' | 'webp' | 'avif';
const FORMATS: Format[] = ['jpeg', 'png', 'webp', 'avif'];

/** The package's build (its main, dist/index.js): the processor's internals are loaded from there. */
const built = dirname(require.resolve('nestjs-image-resize'));
const internal = (path: string) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- not exported by the package
  require(join(built, path)) as Record<string, (...args: unknown[]) => unknown>;
const { makeImage } = internal('processors/sharp-image.work.js');
const { imageJob } = internal('processors/sharp-image.processor.js');
// readImageHeader: not in builds from before the header was read in the parent (for comparisons).
const { checkContainer, readImageHeader = () => undefined } = internal(
  'processors/image-container.checks.js',
);
const { resolveResizeSpec } = internal('spec/resize-spec.resolver.js');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const began = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - began) / 1e6;
}

async function main(): Promise<void> {
  const [photo, misses, rounds] = process.argv.slice(2);
  const input = readFileSync(photo);
  const count = Number(misses) * Number(rounds);

  @Module({ imports: [ImageResizeModule.forRoot({})] })
  class MissBenchModule {}
  const logger: LogLevel[] = ['error', 'warn'];
  const app = await NestFactory.createApplicationContext(MissBenchModule, { logger });
  const images = app.get(ImageResizeService);
  const processor = app.get<ImageProcessor>(IMAGE_PROCESSOR);
  const options = app.get<{ maxJpegScans: number; allowSvg: boolean; maxInputPixels: number }>(
    IMAGE_RESIZE_OPTIONS,
  );
  const { maxJpegScans, allowSvg, maxInputPixels } = options;
  const started = Date.now();
  const rows: MissBreakdownRow[] = [];
  let key = 0;
  for (const format of FORMATS) {
    const given = { width: 256, height: 256, format };
    const spec = resolveResizeSpec(given, options) as ResolvedResizeSpec;
    const layers: Record<keyof Omit<MissBreakdownRow, 'format'>, () => Promise<unknown>> = {
      sharpMs: () => resizeLikeTheLibrary(input, format),
      workMs: () => {
        const checked = checkContainer(input, { maxJpegScans, allowSvg, maxInputPixels }) as Buffer;
        return makeImage(imageJob(checked, spec, options, readImageHeader(checked))) as Promise<unknown>;
      },
      processorMs: () => processor.process(input, spec),
      serviceMs: () => images.resize({ buffer: input, cacheKey: `bench_layers_${key++}` }, given),
    };
    const names = Object.keys(layers) as Array<keyof typeof layers>;
    // Unmeasured, twice: the child forked and the encoders loaded on every side.
    for (let i = 0; i < 2; i++) for (const name of names) await layers[name]();
    const ms = Object.fromEntries(names.map((name) => [name, [] as number[]]));
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < names.length; j++) {
        const name = names[(i + j) % names.length];
        ms[name].push(await timed(layers[name]));
      }
    }
    const row = { format, ...Object.fromEntries(names.map((name) => [name, median(ms[name])])) };
    rows.push(row as MissBreakdownRow);
  }
  const seconds = (Date.now() - started) / 1000;
  // The image workers are unref'd and close() waits for their exit: keep this process alive meanwhile.
  const alive = setInterval(() => undefined, 1000);
  await app.close().finally(() => clearInterval(alive));
  process.stdout.write(`${JSON.stringify({ misses: count, seconds, rows })}\n`);
}

void main();
