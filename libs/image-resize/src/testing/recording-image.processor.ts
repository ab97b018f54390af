import type { OnApplicationShutdown } from '@nestjs/common';
import type { ImageProcessor, ProcessedImage } from '../processors/image-processor.interface';
import type { ResolvedResizeSpec } from '../spec/resize-spec.interface';
import type { Placeholder } from '../page/placeholder.work';
import { holdSlotLike } from '../processors/resize.queue';
import type { FixtureImageSourceLoader } from './fixture-image-source.loader';
import type { ImageResizeRecorder } from './image-resize.recorder';

/**
 * The testing module's {@link ImageProcessor}: the real one, plus a record of every successful resize.
 * Wrapping the processor rather than the loader means a cache hit records nothing, and a stream that
 * was read only to name it in the cache is not counted as a resize.
 */
export class RecordingImageProcessor implements ImageProcessor {
  constructor(
    private readonly inner: ImageProcessor,
    private readonly loader: FixtureImageSourceLoader,
    private readonly recorder: ImageResizeRecorder,
  ) {}

  process(input: Buffer, spec: ResolvedResizeSpec): Promise<ProcessedImage> {
    const result = this.inner.process(input, spec);
    const recorded = result.then((processed) => {
      const from = this.loader.loadedFrom(input);
      this.recorder.record({
        source: from?.source ?? 'unknown',
        cacheKey: spec.cacheKey ?? from?.cacheKey,
        width: spec.width,
        height: spec.height,
        format: spec.alphaFallback ? processed.format : spec.format,
      });
      return processed;
    });
    // A resize slot stays taken until the inner processor's work has really ended, as without the wrapper.
    return holdSlotLike(recorded, result);
  }

  /** The inner processor's placeholder (not a resize: not recorded). */
  placeholder(input: Buffer): Promise<Placeholder> {
    if (!this.inner.placeholder) {
      return Promise.reject(new TypeError(`${this.inner.constructor.name} makes no placeholders`));
    }
    return this.inner.placeholder(input);
  }

  /** Stops the inner processor's workers when the application shuts down, as without the wrapper. */
  async onApplicationShutdown(): Promise<void> {
    await (this.inner as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
  }
}
