import { Injectable } from '@nestjs/common';
import type { OutputFormat } from '../spec/resize-spec.interface';

/** One image that `ImageResizeTestingModule` resized (a cache hit resizes nothing). */
export interface RecordedResize {
  /** The URL of a URL source; `'buffer'`, `'stream'` or `'path'` for the other kinds of source. */
  source: string;
  /**
   * The name the image is cached under: the spec's `cacheKey`, else the source's; `undefined` when the
   * library derived one from the URL or the bytes.
   */
  cacheKey: string | undefined;
  /** Width of the box in pixels, as resolved (`dpr` applied). */
  width: number;
  /** Height of the box in pixels, as resolved (`dpr` applied). */
  height: number;
  /**
   * The format the spec resolved to (after `Accept` negotiation); for `format: 'auto'` without
   * `fallback`, the one picked from the image's transparency.
   */
  format: OutputFormat;
}

/**
 * Lists the images resized by `ImageResizeTestingModule`, oldest first. Get it from the testing
 * module (`moduleRef.get(ImageResizeRecorder)`) and assert on {@link ImageResizeRecorder.resizes}.
 */
@Injectable()
export class ImageResizeRecorder {
  private readonly recorded: RecordedResize[] = [];

  /** Every resize since the module started or since {@link ImageResizeRecorder.clear}. */
  get resizes(): readonly RecordedResize[] {
    return [...this.recorded];
  }

  /** Adds a resize; the testing module's processor calls it after each successful resize. */
  record(resize: RecordedResize): void {
    this.recorded.push({ ...resize });
  }

  /** Forgets what was recorded (the cache keeps its images: purge them with `ImageResizeService`). */
  clear(): void {
    this.recorded.length = 0;
  }
}
