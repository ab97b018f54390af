/**
 * The miss baseline: bare sharp doing the resize the library's photo routes do (same operations,
 * same encoder settings, so the same bytes), one image after another, in a process of its own.
 *
 * Usage: `node sharp-baseline.js <photo> <format> <count>`; prints `{ ms: [...], sha1 }` as JSON,
 * `ms` being the wall-clock time of each image and `sha1` the hash of the output.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

async function main(): Promise<void> {
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
