import type { OnModuleDestroy } from '@nestjs/common';
import type { ImageProcessor, ProcessedImage } from '../processors/image-processor.interface';
import type { ResolvedResizeSpec } from '../spec/resize-spec.interface';
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

  /** Stops the inner processor's workers with the module. */
  async onModuleDestroy(): Promise<void> {
    await (this.inner as Partial<OnModuleDestroy>).onModuleDestroy?.();
  }
}
