import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import {
  InvalidImageError,
  OverloadedError,
  ProcessingTimeoutError,
  SourceTooLargeError,
} from '../errors/image-resize.errors';
import type { ImageProcessor, ProcessedImage } from './image-processor.interface';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { OutputFormat, ResolvedResizeSpec } from '../spec/resize-spec.interface';
import { encoderSettings } from '../spec/variant.keys';
import { ChildProcessPool, PoolClosedError, WorkCrashedError, WorkTimeoutError } from './child-process.pool';
import { checkContainer, type ImageHeader, readImageHeader } from './image-container.checks';
import { holdSlotUntil } from './resize.queue';
import { SharedInputFiles } from './shared-input.files';
import { type ImageJob, type ImageJobFailure, type ImageJobOutput, makeImage } from './sharp-image.work';
import { type Placeholder, type PlaceholderLimits, placeholderOf } from '../page/placeholder.work';

const CONTENT_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
};

/** The sharp the child processes load: the one this package resolves. */
const SHARP_PATH = require.resolve('sharp');

/**
 * A child that holds more memory than this after an image is replaced. Ordinary work leaves a child
 * at about 100 MB; after large images glibc keeps what libvips needed (a 4096 px AVIF: 300 MB after
 * the second, 530 MB after the fourth), and a new child starts at about 60 MB.
 */
const RETIRE_ABOVE_BYTES = 192 * 1024 * 1024;

/**
 * The default {@link ImageProcessor}, built on sharp. The container is checked here (known bombs
 * are refused in linear time) and the header of a JPEG or PNG is read; everything sharp does —
 * reading the header of other formats, checking pixels, frames and decoded bytes against the
 * limits, decoding, resizing, encoding — runs in a pool of `concurrency` child processes, and a
 * child whose work outlives `processingTimeoutMs` is killed, so that work given up on really stops.
 * EXIF orientation is applied, metadata is stripped, PNG/WebP/AVIF keep the alpha channel and JPEG
 * is flattened on white.
 */
@Injectable()
export class SharpImageProcessor implements ImageProcessor, OnApplicationShutdown {
  private readonly pool: ChildProcessPool;
  private readonly inputs = new SharedInputFiles();

  constructor(@Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions) {
    this.pool = new ChildProcessPool(options.concurrency, { retireAboveBytes: RETIRE_ABOVE_BYTES });
  }

  /**
   * Makes the image in a child process. The promise it returns is marked for `ResizeQueue`: after a
   * timeout it rejects at once (503), while the queue slot stays taken until the child has exited.
   */
  process(input: Buffer, spec: ResolvedResizeSpec): Promise<ProcessedImage> {
    let job: ImageJob;
    try {
      if (input.length === 0) throw new InvalidImageError('Source image is empty');
      const { maxJpegScans, allowSvg, maxInputPixels } = this.options;
      const checked = checkContainer(input, { maxJpegScans, allowSvg, maxInputPixels });
      job = imageJob(checked, spec, this.options, readImageHeader(checked));
    } catch (error) {
      return Promise.reject(error);
    }
    const shared = this.inputs.take(job.input!);
    if (shared) job = { ...job, input: undefined, inputFile: shared.input };
    const task = this.pool.run(makeImage, [job], this.options.processingTimeoutMs);
    if (shared) void task.ended.then(() => shared.release());
    return holdSlotUntil(task.result.then(toProcessedImage, toImageError), task.ended);
  }

  /** The placeholder of `input`, made in a child process like an image (same checks, same timeout). */
  placeholder(input: Buffer): Promise<Placeholder> {
    let checked: Buffer;
    try {
      if (input.length === 0) throw new InvalidImageError('Source image is empty');
      const { maxJpegScans, allowSvg, maxInputPixels } = this.options;
      checked = checkContainer(input, { maxJpegScans, allowSvg, maxInputPixels });
    } catch (error) {
      return Promise.reject(error);
    }
    const { maxDecodedBytes, maxAnimationFrames } = this.options;
    const limits: PlaceholderLimits = {
      maxInputPixels: this.options.maxInputPixels,
      maxDecodedBytes,
      maxAnimationFrames,
      allowSvg: this.options.allowSvg,
    };
    const task = this.pool.run(
      placeholderOf,
      [SHARP_PATH, checked, limits],
      this.options.processingTimeoutMs,
    );
    return holdSlotUntil(task.result.catch(toImageError), task.ended);
  }

  /**
   * Kills the child processes and waits until they have exited. Nest's `onApplicationShutdown`: once
   * the HTTP server has drained, so that the misses still in flight at shutdown are made.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
    this.inputs.close();
  }
}

/**
 * The job a child gets for `spec`: every setting it makes the image with. The encoder settings are
 * the ones the variant's cache key names (`encoderSettings`), so that the key covers the output.
 *
 * @param header the input's header, when `readImageHeader` could read it: the child then opens the
 *   image only once
 */
export function imageJob(
  input: Buffer,
  spec: ResolvedResizeSpec,
  options: ResolvedImageResizeOptions,
  header?: ImageHeader,
): ImageJob {
  const encoder = encoderSettings(spec, options.encoders);
  return {
    sharpPath: SHARP_PATH,
    input,
    ...(header ? { header } : {}),
    width: spec.width,
    height: spec.height,
    format: spec.format,
    alphaFallback: spec.alphaFallback,
    fit: spec.fit,
    position: spec.position,
    background: spec.background,
    withoutEnlargement: spec.withoutEnlargement,
    animated: encoder.animated,
    palette: encoder.palette,
    quality: encoder.quality,
    effort: encoder.effort,
    maxInputPixels: options.maxInputPixels,
    maxDecodedBytes: options.maxDecodedBytes,
    maxAnimationFrames: options.maxAnimationFrames,
    allowSvg: options.allowSvg,
  };
}

function toProcessedImage(output: ImageJobOutput): ProcessedImage {
  return {
    body: output.data,
    contentType: CONTENT_TYPES[output.format],
    width: output.width,
    height: output.height,
    format: output.format,
  };
}

/** The library's error for what the pool or the child reported. */
function toImageError(error: unknown): never {
  if (error instanceof WorkTimeoutError) throw new ProcessingTimeoutError(undefined, 5, { cause: error });
  if (error instanceof PoolClosedError) throw new OverloadedError('Image processing is shutting down');
  if (error instanceof WorkCrashedError) {
    throw new InvalidImageError('Source image could not be processed', { cause: error });
  }
  const failure = error as Partial<ImageJobFailure>;
  const cause = failure.detail === undefined ? undefined : { cause: new Error(failure.detail) };
  switch (failure.kind) {
    case 'too-large':
      throw new SourceTooLargeError(failure.message, cause);
    case 'invalid':
    case 'undecodable':
      throw new InvalidImageError(failure.message, cause);
    default:
      throw error;
  }
}
