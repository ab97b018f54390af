import { ImageResizeMetrics } from '../image-resize.metrics';
import type { ImageResizeService } from '../image-resize.service';
import { ImageResizePrometheusExporter } from './image-resize.prometheus-exporter';

describe('ImageResizePrometheusExporter', () => {
  it('counts what the metrics hook reports, and stops when destroyed', async () => {
    const metrics = new ImageResizeMetrics();
    const images = {
      health: async () => ({
        ready: true,
        cache: 'RedisImageCache',
        cacheUp: false,
        hotTier: false,
        breakerOpen: true,
        inFlight: 2,
        queued: 3,
      }),
    };
    const exporter = new ImageResizePrometheusExporter(metrics, images as unknown as ImageResizeService);
    metrics.emit({ type: 'served', cacheStatus: 'HIT', durationMs: 1 });
    metrics.emit({ type: 'served', cacheStatus: 'HIT', durationMs: 1 });
    metrics.emit({ type: 'served', cacheStatus: 'MISS', durationMs: 20 });
    metrics.emit({ type: 'failed', status: 422, reason: 'Source is not a supported image' });
    metrics.emit({ type: 'resized', durationMs: 20, sourceBytes: 5000, outputBytes: 900, format: 'png' });
    metrics.emit({ type: 'waited', waitMs: 15 });
    metrics.emit({ type: 'queued', waitMs: 40 });
    metrics.emit({ type: 'fetched', source: 'url', bytes: 5000, notModified: false });
    metrics.emit({ type: 'fetched', source: 'url', bytes: 0, notModified: true });
    metrics.emit({ type: 'fetched', source: 'path', bytes: 700, notModified: false });
    const text = await exporter.metrics();
    expect(text).toContain('image_resize_requests_total{cache_status="HIT"} 2');
    expect(text).toContain('image_resize_requests_total{cache_status="MISS"} 1');
    expect(text).toContain('image_resize_errors_total{status="422"} 1');
    expect(text).toContain('image_resize_origin_fetches_total{source="url",outcome="loaded"} 1');
    expect(text).toContain('image_resize_origin_fetches_total{source="url",outcome="not_modified"} 1');
    expect(text).toContain('image_resize_origin_fetches_total{source="path",outcome="loaded"} 1');
    expect(text).toContain('image_resize_cache_up 0');
    expect(text).toContain('image_resize_hot_tier_active 0');
    expect(text).toContain('image_resize_cache_breaker_open 1');
    expect(text).toContain('image_resize_resize_seconds_count 1');
    expect(text).toContain('image_resize_source_bytes_sum 5000');
    expect(text).toContain('image_resize_wait_seconds_count 1');
    expect(text).toContain('image_resize_in_flight 2');
    expect(text).toContain('image_resize_queued 3');
    expect(text).toContain('image_resize_queue_wait_seconds_count 1');
    expect(exporter.contentType).toMatch(/^text\/plain/);

    exporter.onModuleDestroy();
    metrics.emit({ type: 'served', cacheStatus: 'HIT', durationMs: 1 });
    expect(await exporter.metrics()).toContain('image_resize_requests_total{cache_status="HIT"} 2');
  });

  it('keeps going when a listener throws', () => {
    const metrics = new ImageResizeMetrics();
    const seen: string[] = [];
    metrics.subscribe(() => {
      throw new Error('broken listener');
    });
    metrics.subscribe((event) => seen.push(event.type));
    metrics.emit({ type: 'waited', waitMs: 1 });
    expect(seen).toEqual(['waited']);
  });
});
