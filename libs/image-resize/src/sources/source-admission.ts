import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { ImageSourceDescriptor, LoadedSource } from './image-source.interface';
import type { ImageSourceLoader } from './image-source-loader.interface';
import { SourceByteBudget } from './source-byte.budget';
import { deadline, sourceTimeoutError } from './source-deadline';
import { serverAddress, type TraceSpan, tracing } from '../tracing/image-resize.tracing';

/** A loaded source and its share of the admission budget, held until its resize has ended. */
export interface HeldSource {
  loaded: LoadedSource;
  /** Gives its bytes back to the budget; idempotent. */
  release(): void;
}

/**
 * Admits sources: loads each within its deadline (`fetchTimeoutMs`) and the admission budget
 * (`maxSourceBytesInFlight`). The loader reserves bytes before it reads them, and what it returns
 * stays reserved, at its real size, until `release()`. A loader that has not answered at the
 * deadline is told to stop (its signal) and the load fails with 504 at once, so that a stalled source
 * cannot hold its cacheKey. Buffer sources were in memory before the call: they are not counted.
 */
export class SourceAdmission {
  private readonly budget: SourceByteBudget;

  /**
   * @param fetched told of every original loaded from its URL or file (not of buffers or streams)
   */
  constructor(
    private readonly loader: ImageSourceLoader,
    private readonly options: Pick<ResolvedImageResizeOptions, 'fetchTimeoutMs' | 'maxSourceBytesInFlight'>,
    private readonly fetched: (source: 'url' | 'path', loaded: LoadedSource) => void = () => undefined,
  ) {
    this.budget = new SourceByteBudget(options.maxSourceBytesInFlight);
  }

  /** Source bytes being loaded or held now. */
  get inFlight(): number {
    return this.budget.inFlight;
  }

  /**
   * Loads `descriptor` within its deadline and the budget. With tracing, in a span `image_resize.fetch`
   * (see {@link traceLoad}).
   */
  load(descriptor: ImageSourceDescriptor): Promise<HeldSource> {
    if (tracing) return tracing.inFetchSpan((span) => this.admit(descriptor, traceLoad(span, descriptor)));
    return this.admit(descriptor);
  }

  private async admit(descriptor: ImageSourceDescriptor, span?: TraceSpan): Promise<HeldSource> {
    const reservation = this.budget.open();
    const timeoutMs = this.options.fetchTimeoutMs;
    const limit = deadline(timeoutMs, () => sourceTimeoutError(descriptor, timeoutMs));
    const expired = new Promise<never>((_resolve, reject) =>
      limit.signal.addEventListener('abort', () => reject(limit.signal.reason), { once: true }),
    );
    try {
      const loaded = await Promise.race([
        this.loader.load(descriptor, { signal: limit.signal, reservation }),
        expired,
      ]);
      if (descriptor.buffer === undefined) reservation.settle(loaded.body.length);
      if (span) {
        span.setAttribute('image_resize.source.bytes', loaded.body.length);
        if (loaded.notModified) span.setAttribute('image_resize.source.not_modified', true);
      }
      if (descriptor.url !== undefined) this.fetched('url', loaded);
      else if (descriptor.path !== undefined) this.fetched('path', loaded);
      return { loaded, release: () => reservation.release() };
    } catch (error) {
      reservation.release();
      descriptor.stream?.destroy();
      throw error;
    } finally {
      limit.clear();
    }
  }

  /**
   * A source that the cache made unnecessary: a stream is destroyed, so that it holds no file or
   * socket; a preloaded one gives its bytes back to the budget.
   */
  static releaseUnread(source: ImageSourceDescriptor, preloaded: HeldSource | undefined): void {
    if (preloaded) preloaded.release();
    else source.stream?.destroy();
  }
}

/**
 * The attributes of a load's span that are known before it starts: the kind of source
 * (`image_resize.source.kind`) and, for a URL, its host alone (`server.address`: never its path, query
 * or credentials). Returns `span`.
 */
function traceLoad(span: TraceSpan, descriptor: ImageSourceDescriptor): TraceSpan {
  const kind =
    descriptor.url !== undefined
      ? 'url'
      : descriptor.buffer !== undefined
        ? 'buffer'
        : descriptor.stream !== undefined
          ? 'stream'
          : 'path';
  span.setAttribute('image_resize.source.kind', kind);
  const host = descriptor.url !== undefined ? serverAddress(descriptor.url) : undefined;
  if (host !== undefined) span.setAttribute('server.address', host);
  return span;
}
