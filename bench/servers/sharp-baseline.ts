/**
 * The miss baseline: bare sharp doing the resize the library's photo routes do (same operations,
 * same encoder settings, so the same bytes), in a process of its own.
 *
 * Usage:
 * - `node sharp-baseline.js <photo> <format> <count>`: one image after another; prints
 *   `{ ms: [...], sha1 }` as JSON, `ms` being the wall-clock time of each image and `sha1` the hash
 *   of the output;
 * - `node sharp-baseline.js --serve <photo>`: one image of the photo for every line (a format) read
 *   from standard input, answered by a line `{ ms, sha1 }`: a baseline that stays warm, so that it
 *   can take turns with the library image by image;
 * - `node sharp-baseline.js --concurrent <folder> <format> <concurrency>`: every `photo-<n>.jpg` of
 *   the folder, `concurrency` at a time (sharp's and libuv's defaults otherwise), after one round of
 *   `concurrency` unmeasured images; prints `{ images, seconds, cpuSeconds }` (the CPU time of
 *   this process, every thread, while it made them).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';

type Format = 'jpeg' | 'png' | 'webp' | 'avif';

/** The processor's pipeline for a 256x256 `inside` box without transparency to keep. */
export function resizeLikeTheLibrary(input: Buffer, format: Format): Promise<Buffer> {
  const white = { r: 255, g: 255, b: 255, alpha: 1 };
  const transparent = { r: 0, g: 0, b: 0, alpha: 0 };
  const image = sharp(input, { failOn: 'error' })
    .rotate()
    .resize({
      width: 256,
      height: 256,
      fit: 'inside',
      position: 'centre',
      withoutEnlargement: true,
      background: format === 'jpeg' ? white : transparent,
    });
  switch (format) {
    case 'jpeg':
      return image
        .flatten({ background: white })
        .jpeg({ quality: 80, mozjpeg: true, progressive: true })
        .toBuffer();
    case 'png':
      return image.png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
    case 'webp':
      return image.webp({ quality: 80 }).toBuffer();
    case 'avif':
      return image.avif({ quality: 50, effort: 3 }).toBuffer();
  }
}

/** Every image of `inputs`, `concurrency` at a time; wall-clock seconds for all of them. */
async function concurrently(inputs: Buffer[], format: Format, concurrency: number): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < inputs.length) await resizeLikeTheLibrary(inputs[next++], format);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function concurrentMain(folder: string, format: Format, concurrency: number): Promise<void> {
  const inputs = readdirSync(folder)
    .filter((name) => /^photo-\d+\.jpg$/.test(name))
    .map((name) => readFileSync(join(folder, name)));
  await concurrently(inputs.slice(0, concurrency), format, concurrency);
  const cpu = process.cpuUsage();
  const seconds = await concurrently(inputs, format, concurrency);
  const { user, system } = process.cpuUsage(cpu);
  process.stdout.write(JSON.stringify({ images: inputs.length, seconds, cpuSeconds: (user + system) / 1e6 }));
}

/** Answers each line of standard input (a format) with one image's `{ ms, sha1 }`, one at a time. */
async function serve(photo: string): Promise<void> {
  const input = readFileSync(photo);
  for await (const line of createInterface({ input: process.stdin })) {
    const started = process.hrtime.bigint();
    const output = await resizeLikeTheLibrary(input, line.trim() as Format);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(
      `${JSON.stringify({ ms, sha1: createHash('sha1').update(output).digest('hex') })}\n`,
    );
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serve(process.argv[3]);
  if (process.argv[2] === '--concurrent') {
    const [folder, format, concurrency] = process.argv.slice(3);
    return concurrentMain(folder, format as Format, Number(concurrency));
  }
  const [photo, format, count] = process.argv.slice(2);
  const input = readFileSync(photo);
  const ms: number[] = [];
  let output: Buffer = Buffer.alloc(0);
  for (let i = 0; i < Number(count); i++) {
    const started = process.hrtime.bigint();
    output = await resizeLikeTheLibrary(input, format as Format);
    ms.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  process.stdout.write(JSON.stringify({ ms, sha1: createHash('sha1').update(output).digest('hex') }));
}

if (require.main === module) void main();
