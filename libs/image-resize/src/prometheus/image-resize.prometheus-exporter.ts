import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ImageResizeMetrics } from '../image-resize.metrics';
import { ImageResizeService } from '../image-resize.service';

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
    new Gauge({
      name: 'image_resize_queued',
      help: 'Resizes waiting for a free slot right now',
      registers: [this.registry],
      async collect() {
        this.set((await images.health()).queued);
      },
    });
    new Gauge({
      name: 'image_resize_in_flight',
      help: 'Misses being made right now in this process',
      registers: [this.registry],
      async collect() {
        this.set((await images.health()).inFlight);
      },
    });
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
