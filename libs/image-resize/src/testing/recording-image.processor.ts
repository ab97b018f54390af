import type { ImageProcessor, ProcessedImage } from '../interfaces/image-processor.interface';
import type { ResolvedResizeSpec } from '../interfaces/resize-spec.interface';
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

  async process(input: Buffer, spec: ResolvedResizeSpec): Promise<ProcessedImage> {
    const processed = await this.inner.process(input, spec);
    const from = this.loader.loadedFrom(input);
    this.recorder.record({
      source: from?.source ?? 'unknown',
      cacheKey: spec.cacheKey ?? from?.cacheKey,
      width: spec.width,
      height: spec.height,
      format: spec.alphaFallback ? processed.format : spec.format,
    });
    return processed;
  }
}
