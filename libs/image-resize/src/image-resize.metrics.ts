import { loggableMessage } from './errors/image-resize.errors';
import { Injectable, Logger } from '@nestjs/common';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from './image-resize.constants';
import type { OutputFormat } from './spec/resize-spec.interface';
import type { CacheStatus } from './resized-image.result';

/** What the library reports as it works; subscribe with {@link ImageResizeMetrics.subscribe}. */
export type ImageResizeEvent =
  /** A call to `resize` answered: from the cache (`HIT`), freshly made (`MISS`), or without the cache (`BYPASS`). */
  | { type: 'served'; cacheStatus: CacheStatus; durationMs: number }
  /** An image was made: source loaded, decoded, resized and encoded. */
  | { type: 'resized'; durationMs: number; sourceBytes: number; outputBytes: number; format: OutputFormat }
  /**
   * A call to `resize` failed with this HTTP status (e.g. 422, 502), or a `@ResizedImage()` route
   * refused a request before that: a size it does not offer or a bad signature (400, 403), a `null`
   * source (404). `reason` is the error's message, with any address taken out.
   */
  | { type: 'failed'; status: number; reason: string }
  /** A call waited for another one's identical miss (in this process or on another instance). */
  | { type: 'waited'; waitMs: number }
  /** A resize waited this long for a free slot (`concurrency`). */
  | { type: 'queued'; waitMs: number }
  /**
   * An original was loaded from where it lives: fetched from its URL (`url`) or read from its file
   * (`path`), whether for a miss or for a check of its freshness (`notModified`: the origin said it
   * had not changed). Buffers and streams handed to the library are not counted.
   */
  | { type: 'fetched'; source: 'url' | 'path'; bytes: number; notModified: boolean };

/** A subscriber to {@link ImageResizeEvent}s. */
export type ImageResizeListener = (event: ImageResizeEvent) => void;

/**
 * The one hook through which the library reports hits, misses, bypasses, errors, resize times,
 * source sizes and waits. Inject it and subscribe (the Prometheus exporter of
 * `nestjs-image-resize/prometheus` does); a listener that throws is ignored.
 */
@Injectable()
export class ImageResizeMetrics {
  private readonly listeners = new Set<ImageResizeListener>();
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);

  /** Calls `listener` with every event from now on; returns the function that unsubscribes it. */
  subscribe(listener: ImageResizeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reports an event to every subscriber. */
  emit(event: ImageResizeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.debug(`A metrics listener failed: ${loggableMessage(error)}`);
      }
    }
  }
}
