import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ImageResizeMetrics } from '../image-resize.metrics';
import { type ImageResizeHealth, ImageResizeService } from '../image-resize.service';

/**
 * Prometheus metrics of the library, on a registry of its own (`prom-client` is an optional peer):
 *
 * - `image_resize_requests_total{cache_status}`: answers by HIT, MISS, BYPASS
 * - `image_resize_errors_total{status}`: failures by HTTP status
 * - `image_resize_resize_seconds`: time to load, decode, resize and encode one image
 * - `image_resize_source_bytes`: size of the originals loaded
 * - `image_resize_wait_seconds`: time a request waited for an identical miss
 * - `image_resize_queue_wait_seconds`: time a resize waited for a free slot
 * - `image_resize_queued`: resizes waiting for a slot now
 * - `image_resize_in_flight`: misses being made now
 * - `image_resize_cache_up`: 1 while the cache answers, 0 while it does not (images are then served uncached)
 * - `image_resize_hot_tier_active`: 1 while Redis's hot tier serves, 0 while it is off (or there is none)
 * - `image_resize_cache_breaker_open`: 1 while the circuit breaker keeps commands from Redis
 * - `image_resize_origin_fetches_total{source,outcome}`: originals loaded from their URL (`source="url"`)
 *   or file (`"path"`), for misses and for freshness checks (`outcome="not_modified"` when the origin
 *   said it had not changed)
 *
 * Serve {@link metrics} with {@link contentType} from a `/metrics` route, or merge {@link registry}
 * into the application's own with `Registry.merge`.
 */
@Injectable()
export class ImageResizePrometheusExporter implements OnModuleDestroy {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;

  constructor(metrics: ImageResizeMetrics, images: ImageResizeService) {
    const requests = new Counter({
      name: 'image_resize_requests_total',
      help: 'Images served, by cache status',
      labelNames: ['cache_status'],
      registers: [this.registry],
    });
    const errors = new Counter({
      name: 'image_resize_errors_total',
      help: 'Image requests that failed, by HTTP status',
      labelNames: ['status'],
      registers: [this.registry],
    });
    const resizeSeconds = new Histogram({
      name: 'image_resize_resize_seconds',
      help: 'Time to load, decode, resize and encode one image',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    const sourceBytes = new Histogram({
      name: 'image_resize_source_bytes',
      help: 'Size of the original images loaded',
      buckets: [1e3, 1e4, 1e5, 1e6, 5e6, 2e7],
      registers: [this.registry],
    });
    const waitSeconds = new Histogram({
      name: 'image_resize_wait_seconds',
      help: 'Time a request waited for an identical miss in progress',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    const queueSeconds = new Histogram({
      name: 'image_resize_queue_wait_seconds',
      help: 'Time a resize waited for a free slot (concurrency)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    const originFetches = new Counter({
      name: 'image_resize_origin_fetches_total',
      help: 'Originals loaded from their URL or file, for misses and freshness checks',
      labelNames: ['source', 'outcome'],
      registers: [this.registry],
    });
    // One health reading (one PING) per scrape: prom-client collects every gauge in the same turn, and
    // they share the reading under way.
    let reading: Promise<ImageResizeHealth> | undefined;
    const health = () =>
      (reading ??= images.health().finally(() => {
        reading = undefined;
      }));
    const gauge = (name: string, help: string, read: (health: ImageResizeHealth) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(read(await health()));
        },
      });
    gauge('image_resize_queued', 'Resizes waiting for a free slot right now', (h) => h.queued);
    gauge('image_resize_in_flight', 'Misses being made right now in this process', (h) => h.inFlight);
    gauge('image_resize_cache_up', 'Whether the image cache answers (1) or not (0)', (h) =>
      Number(h.cacheUp),
    );
    gauge(
      'image_resize_hot_tier_active',
      "Whether Redis's in-process hot tier serves now (1) or is off or absent (0)",
      (h) => Number(h.hotTier === true),
    );
    gauge(
      'image_resize_cache_breaker_open',
      'Whether the circuit breaker keeps commands from Redis now (1) or not (0)',
      (h) => Number(h.breakerOpen === true),
    );
    this.unsubscribe = metrics.subscribe((event) => {
      switch (event.type) {
        case 'served':
          requests.inc({ cache_status: event.cacheStatus });
          break;
        case 'failed':
          errors.inc({ status: String(event.status) });
          break;
        case 'resized':
          resizeSeconds.observe(event.durationMs / 1000);
          sourceBytes.observe(event.sourceBytes);
          break;
        case 'waited':
          waitSeconds.observe(event.waitMs / 1000);
          break;
        case 'queued':
          queueSeconds.observe(event.waitMs / 1000);
          break;
        case 'fetched':
          originFetches.inc({ source: event.source, outcome: event.notModified ? 'not_modified' : 'loaded' });
          break;
      }
    });
  }

  /** The Content-Type of {@link metrics}' text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in Prometheus' text format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  onModuleDestroy(): void {
    this.unsubscribe();
  }
}
