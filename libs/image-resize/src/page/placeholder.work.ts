import type { Sharp } from 'sharp';

/** sharp's default export: what makes a pipeline of an input. */
export type SharpModule = (input?: Buffer | Uint8Array, options?: import('sharp').SharpOptions) => Sharp;

/** The limits a placeholder is made within: the module's, as the resize worker gets them. */
export interface PlaceholderLimits {
  maxInputPixels: number;
  maxDecodedBytes: number;
  maxAnimationFrames: number;
  allowSvg: boolean;
}

/** How the placeholder is encoded; the defaults are the measured choice (see placeholder.ts). */
export interface PlaceholderSettings {
  /** Pixels on the long side. Default 16. */
  size?: number;
  /** WebP quality. Default 60. */
  quality?: number;
}

/** A placeholder of an image, and the image's own size. */
export interface Placeholder {
  /** A WebP of at most `size` pixels on the long side, alpha kept: `data:image/webp;base64,...`. */
  dataUrl: string;
  /** The dominant colour of the image's opaque pixels, `#rrggbb`. */
  color: string;
  /** The original's width and height as displayed (EXIF orientation applied; first frame). */
  width: number;
  height: number;
  /** The length of `dataUrl`: what it adds to the page, in bytes. */
  bytes: number;
}

// Coverage counters added to placeholderOf would be undefined where its source text runs (a child of
// the pool): the file is not instrumented.
/* istanbul ignore file */
/**
 * Makes the {@link Placeholder} of `input` with `sharp`, reading it as the resize worker
 * (`makeImage` in `processors/sharp-image.work.ts`) does: the header first, checked against `limits`
 * (accepted formats, SVG only when allowed, pixels, frames, decoded bytes), then one decode with
 * `limitInputPixels` and `failOn: 'error'`, first frame, EXIF orientation applied.
 *
 * It uses nothing from outside its own body, so that its source text can run in a child of the pool:
 * `pool.run(placeholderOf, [SHARP_PATH, input, limits], timeoutMs)`. Given the path of sharp rather
 * than sharp itself, it runs as a task of the pool: it sends its pid first (so that the pool can kill
 * it at the timeout), dies with its parent, and loads sharp from that path (the parent's copy). Throws
 * an `ImageJobFailure`-shaped error (`{ kind: 'invalid' | 'too-large' | 'undecodable', message,
 * detail? }`) as `makeImage` does.
 *
 * @param sharp the sharp module, or (in a child of the pool) the path to load it from
 */
export async function placeholderOf(
  sharp: SharpModule | string,
  input: Buffer | Uint8Array,
  limits: PlaceholderLimits,
  settings: PlaceholderSettings = {},
): Promise<Placeholder> {
  let open = sharp as SharpModule;
  if (typeof sharp === 'string') {
    // As makeImage: workerpool's worker module is the child's main module; its `emit` reaches the
    // parent's `on`, which learns the pid to kill at the timeout.
    const main = process.mainModule as NodeJS.Module;
    (main.exports as { emit?: (event: { pid: number }) => void }).emit?.({ pid: process.pid });
    const marker = Symbol.for('nestjs-image-resize.child');
    const host = globalThis as { [marker]?: boolean };
    if (!host[marker]) {
      host[marker] = true;
      // A parent that goes away takes this process with it, even in the middle of a decode.
      process.prependListener('disconnect', () => process.kill(process.pid, 'SIGKILL'));
    }
    open = main.require(sharp) as SharpModule;
  }
  const fail = (kind: 'invalid' | 'too-large' | 'undecodable', message: string, detail?: string): never => {
    throw Object.assign(new Error(message), { kind, detail });
  };
  const size = settings.size ?? 16;
  const quality = settings.quality ?? 60;
  if (!Number.isInteger(size) || size < 1 || size > 64)
    fail('invalid', 'Placeholder size must be 1 to 64 pixels');
  if (!Number.isInteger(quality) || quality < 1 || quality > 100)
    fail('invalid', 'Placeholder quality must be 1 to 100');

  let metadata: import('sharp').Metadata;
  try {
    metadata = await open(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    return fail('invalid', 'Source is not a supported image', (error as Error).message);
  }
  const accepted = ['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff'];
  if (metadata.format === 'svg') {
    if (!limits.allowSvg) fail('invalid', 'SVG sources are not accepted');
  } else if (!metadata.format || !accepted.includes(metadata.format)) {
    fail('invalid', `Source image type ${metadata.format ?? 'unknown'} is not accepted`);
  }
  if (!metadata.width || !metadata.height) fail('invalid', 'Source image has no dimensions');
  const pages = metadata.pages ?? 1;
  if (pages > limits.maxAnimationFrames) {
    fail(
      'too-large',
      `Source image has ${pages} frames, more than the limit of ${limits.maxAnimationFrames}`,
    );
  }
  const pageHeight = metadata.pageHeight ?? metadata.height;
  if (metadata.width * pageHeight > limits.maxInputPixels) {
    fail(
      'too-large',
      `Source image has ${metadata.width}x${metadata.height} pixels, more than the limit of ${limits.maxInputPixels}`,
    );
  }
  // Only the first frame is decoded. 16-bit PNG and TIFF decode to 2 bytes a sample; AVIF/HEIF above 8 bits too.
  const sampleBytes: Record<string, number> = { ushort: 2, short: 2, uint: 4, int: 4, float: 4 };
  const bytesPerSample = Math.max(
    sampleBytes[metadata.depth] ?? 1,
    (metadata.bitsPerSample ?? 8) > 8 ? 2 : 1,
  );
  const decoded = metadata.width * pageHeight * (metadata.channels ?? 4) * bytesPerSample;
  if (decoded > limits.maxDecodedBytes) {
    fail(
      'too-large',
      `Source image would take ${decoded} bytes decoded, more than the limit of ${limits.maxDecodedBytes}`,
    );
  }
  // As displayed: orientations 5 to 8 turn the image a quarter.
  const turned = (metadata.orientation ?? 1) >= 5;
  const width = turned ? pageHeight : metadata.width;
  const height = turned ? metadata.width : pageHeight;

  // One decode: a small RGBA copy (64 px on the long side), from which both the colour is read and
  // the placeholder is made. JPEG and WebP decode straight to about that size (shrink-on-load).
  const sample = Math.max(size, 64);
  let pixels: Buffer;
  let info: import('sharp').OutputInfo;
  try {
    ({ data: pixels, info } = await open(input, { limitInputPixels: limits.maxInputPixels, failOn: 'error' })
      .rotate()
      .resize({ width: sample, height: sample, fit: 'inside', withoutEnlargement: true })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (error) {
    return fail(
      'undecodable',
      `Source ${metadata.format} image could not be decoded`,
      (error as Error).message,
    );
  }

  // The dominant colour: of 64 boxes of the colour cube (4 levels a channel), the one that holds the
  // most opacity; its pixels' mean, weighted by their alpha. Transparent pixels count for nothing.
  const boxes = new Map<number, [number, number, number, number]>();
  let opaque = true;
  for (let at = 0; at < pixels.length; at += 4) {
    const alpha = pixels[at + 3];
    if (alpha < 255) opaque = false;
    if (alpha === 0) continue;
    const [r, g, b] = [pixels[at], pixels[at + 1], pixels[at + 2]];
    const key = ((r >> 6) << 4) | ((g >> 6) << 2) | (b >> 6);
    const box = boxes.get(key) ?? [0, 0, 0, 0];
    box[0] += alpha;
    box[1] += r * alpha;
    box[2] += g * alpha;
    box[3] += b * alpha;
    boxes.set(key, box);
  }
  let top: [number, number, number, number] = [0, 0, 0, 0];
  for (const box of boxes.values()) if (box[0] > top[0]) top = box;
  const hex = (sum: number) =>
    Math.round(top[0] === 0 ? 0 : sum / top[0])
      .toString(16)
      .padStart(2, '0');
  const color = `#${hex(top[1])}${hex(top[2])}${hex(top[3])}`;

  // The placeholder: WebP keeps the alpha channel in a few bytes; an opaque image does without it.
  let image = open(pixels, { raw: { width: info.width, height: info.height, channels: 4 } }).resize({
    width: size,
    height: size,
    fit: 'inside',
    withoutEnlargement: true,
  });
  if (opaque) image = image.removeAlpha();
  const webp = await image.webp({ quality, alphaQuality: 100, smartSubsample: true, effort: 6 }).toBuffer();
  const dataUrl = `data:image/webp;base64,${webp.toString('base64')}`;
  return { dataUrl, color, width, height, bytes: dataUrl.length };
}
