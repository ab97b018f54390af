import type { Color, Metadata, Sharp } from 'sharp';
import type { CropPosition, FitMode, OutputFormat } from '../spec/resize-spec.interface';
import type { ImageHeader } from './image-container.checks';

/** What a child needs to make one image: the bytes, the resize and encoder settings, the limits. */
export interface ImageJob {
  /** The file the parent loaded sharp from: the child loads the very same copy. */
  sharpPath: string;
  /** The source's bytes, sent over the IPC channel; or else `inputFile`. */
  input?: Uint8Array;
  /** Where to read the source's bytes from (see `SharedInputFiles`). */
  inputFile?: { path: string; length: number };
  /**
   * The source's header as the parent read it (`readImageHeader`, JPEG and PNG): then the child
   * checks it against the limits and opens the image once, for the pipeline. Without it the child
   * reads the header with sharp's `metadata()` first.
   */
  header?: ImageHeader;
  width: number;
  height: number;
  format: OutputFormat;
  /** Encode PNG when the image has transparency and JPEG otherwise (`format` is then ignored). */
  alphaFallback: boolean;
  fit: FitMode;
  position: CropPosition;
  background?: string;
  withoutEnlargement: boolean;
  animated: boolean;
  palette: boolean;
  /** Quality per lossy format, the spec's own already applied. */
  quality: { jpeg: number; webp: number; avif: number };
  effort: number;
  maxInputPixels: number;
  maxDecodedBytes: number;
  maxAnimationFrames: number;
  allowSvg: boolean;
}

/** The image a child made. */
export interface ImageJobOutput {
  data: Buffer;
  width: number;
  height: number;
  format: OutputFormat;
}

/** Why a child gave up on an image; `kind` picks the error the parent throws. */
export interface ImageJobFailure {
  kind: 'invalid' | 'too-large' | 'undecodable';
  message: string;
  /** sharp's own message, for the log. */
  detail?: string;
}

/** What a child sends before it starts: its pid, so that the parent can kill it. */
export interface ImageJobStarted {
  pid: number;
}

// Coverage counters added to makeImage would be undefined in the child: the file is not instrumented.
// (The hint sits here because TypeScript drops comments above the type-only imports.)
/* istanbul ignore file */
/**
 * Checks the header against the limits, then decodes, resizes and encodes: everything that sharp
 * does for one image. The header is the job's (`header`, read by the parent from a JPEG or PNG), so
 * that the image is opened once, by the pipeline; for other formats it is read first with sharp's
 * header-only `metadata()`. Runs in a child process of the pool, which sends it there as source
 * text: it must not use anything from outside its own body, not even an import.
 *
 * Throws an {@link ImageJobFailure}-shaped error for an image it refuses or cannot decode.
 */
export async function makeImage(job: ImageJob): Promise<ImageJobOutput> {
  const main = process.mainModule;
  // workerpool's worker module is the child's main module; its `emit` reaches the parent's `on`.
  (main?.exports as { emit?: (event: ImageJobStarted) => void } | undefined)?.emit?.({ pid: process.pid });
  const marker = Symbol.for('nestjs-image-resize.child');
  const buffer = Symbol.for('nestjs-image-resize.input');
  const host = globalThis as { [marker]?: boolean; [buffer]?: Buffer };
  if (!host[marker]) {
    host[marker] = true;
    // A parent that goes away takes this process with it, even in the middle of a decode.
    process.prependListener('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  }
  const sharp = (main as NodeJS.Module).require(job.sharpPath) as typeof import('sharp').default;
  const fail = (kind: ImageJobFailure['kind'], message: string, detail?: string): never => {
    throw Object.assign(new Error(message), { kind, detail });
  };
  /** Reads a shared file into a buffer this child keeps for the next image (unless it is large). */
  function readInput(file: { path: string; length: number }): Buffer {
    const fs = (main as NodeJS.Module).require('fs') as typeof import('fs');
    let target = host[buffer];
    if (!target || target.length < file.length) {
      target = Buffer.allocUnsafeSlow(file.length);
      if (file.length <= 8 * 1024 * 1024) host[buffer] = target;
    }
    const fd = fs.openSync(file.path, 'r');
    try {
      let read = 0;
      while (read < file.length) {
        const n = fs.readSync(fd, target, read, file.length - read, read);
        if (n === 0) fail('invalid', 'Source image could not be read');
        read += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    return target.subarray(0, file.length);
  }
  const size = (bytes: number) => (bytes < 1e6 ? `${bytes} bytes` : `${Math.ceil(bytes / 1e6)} MB`);

  const input = job.input ?? readInput(job.inputFile!);
  /** What the checks need of the header: the parent's reading of it, or sharp's. */
  let source: {
    format: string;
    width: number;
    height: number;
    pages: number;
    pageHeight: number;
    channels: number;
    bytesPerSample: number;
    hasAlpha: boolean;
  };
  if (job.header) {
    source = { ...job.header, pages: 1, pageHeight: job.header.height };
  } else {
    let metadata: Metadata;
    try {
      metadata = await sharp(input, { limitInputPixels: false }).metadata();
    } catch (error) {
      return fail('invalid', 'Source is not a supported image', (error as Error).message);
    }
    const accepted = ['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff'];
    if (metadata.format === 'svg') {
      if (!job.allowSvg) fail('invalid', 'SVG sources are not accepted');
    } else if (!metadata.format || !accepted.includes(metadata.format)) {
      fail('invalid', `Source image type ${metadata.format ?? 'unknown'} is not accepted`);
    }
    if (!metadata.width || !metadata.height) fail('invalid', 'Source image has no dimensions');
    // 16-bit PNG and TIFF decode to 2 bytes a sample; AVIF/HEIF above 8 bits too, whatever `depth` says.
    const sampleBytes: Record<string, number> = { ushort: 2, short: 2, uint: 4, int: 4, float: 4 };
    source = {
      format: metadata.format,
      width: metadata.width,
      height: metadata.height,
      pages: metadata.pages ?? 1,
      pageHeight: metadata.pageHeight ?? metadata.height,
      channels: metadata.channels ?? 4,
      bytesPerSample: Math.max(sampleBytes[metadata.depth] ?? 1, (metadata.bitsPerSample ?? 8) > 8 ? 2 : 1),
      hasAlpha: metadata.hasAlpha ?? false,
    };
  }
  const { pages, pageHeight } = source;
  if (pages > job.maxAnimationFrames) {
    fail('too-large', `Source image has ${pages} frames, more than the limit of ${job.maxAnimationFrames}`);
  }
  if (source.width * pageHeight > job.maxInputPixels) {
    fail(
      'too-large',
      `Source image has ${source.width}x${source.height} pixels, more than the limit of ${job.maxInputPixels}`,
    );
  }
  const format: OutputFormat = job.alphaFallback ? (source.hasAlpha ? 'png' : 'jpeg') : job.format;
  const animated = job.animated && format === 'webp';
  // Decoded size: only the first frame is decoded unless every frame is kept.
  const decoded =
    source.width * pageHeight * (animated ? pages : 1) * source.channels * source.bytesPerSample;
  if (decoded > job.maxDecodedBytes) {
    fail(
      'too-large',
      `Source image would take ${size(decoded)} decoded, more than the limit of ${size(job.maxDecodedBytes)}`,
    );
  }

  const white: Color = { r: 255, g: 255, b: 255, alpha: 1 };
  const background: Color = job.background ?? (format === 'jpeg' ? white : { r: 0, g: 0, b: 0, alpha: 0 });
  let image: Sharp = sharp(input, { limitInputPixels: job.maxInputPixels, failOn: 'error', animated })
    .rotate()
    .resize({
      width: job.width,
      height: job.height,
      fit: job.fit,
      position: job.position,
      withoutEnlargement: job.withoutEnlargement,
      background,
    });
  // The encoders: JPEG with mozjpeg's trellis quantisation, progressive; PNG at compression 9,
  // optionally quantised to a palette. Metadata is not written; colours end up in sRGB.
  switch (format) {
    case 'png':
      image = job.palette
        ? image.png({ palette: true, compressionLevel: 9, effort: 7 })
        : image.png({ compressionLevel: 9, adaptiveFiltering: true });
      break;
    case 'jpeg':
      image = image
        .flatten({ background: job.background ?? white })
        .jpeg({ quality: job.quality.jpeg, mozjpeg: true, progressive: true });
      break;
    case 'webp':
      image = image.webp({ quality: job.quality.webp });
      break;
    case 'avif':
      image = image.avif({ quality: job.quality.avif, effort: job.effort });
      break;
  }
  try {
    const { data, info } = await image.toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, format };
  } catch (error) {
    const message = (error as Error).message;
    // Without metadata() first, the pipeline is what reads the header: a header libjpeg or libpng
    // refuses fails here, and is reported as metadata() would have had it refused.
    if (job.header && /^Input buffer (has corrupt header|contains unsupported image format)/.test(message)) {
      return fail('invalid', 'Source is not a supported image', message);
    }
    if (message.startsWith('Input image exceeds pixel limit')) {
      return fail(
        'too-large',
        `Source image has more pixels than the limit of ${job.maxInputPixels}`,
        message,
      );
    }
    return fail('undecodable', `Source ${source.format} image could not be decoded`, message);
  }
}
