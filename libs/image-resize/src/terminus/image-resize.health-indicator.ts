import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { ImageResizeService } from '../image-resize.service';

/** When {@link ImageResizeHealthIndicator} reports `down`. */
export interface ImageResizeHealthOptions {
  /** More misses in flight than this (the queue depth) is `down`. Default 100. */
  maxInFlight?: number;
}

/**
 * A `@nestjs/terminus` health indicator: `up` while the cache answers and the number of misses in
 * flight stays under `maxInFlight`, with both in its details. Images are still served (uncached)
 * while the cache is down, so use it for readiness rather than liveness.
 *
 * @example
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.images.isHealthy('images')]); }
 * ```
 */
@Injectable()
export class ImageResizeHealthIndicator {
  constructor(
    private readonly images: ImageResizeService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async isHealthy<const Key extends string>(key: Key, options: ImageResizeHealthOptions = {}) {
    const indicator = this.indicators.check(key);
    const { cache, reachable, inFlight, queued } = await this.images.health();
    const maxInFlight = options.maxInFlight ?? 100;
    const details = { cache, reachable, inFlight, queued, maxInFlight };
    return reachable && inFlight <= maxInFlight ? indicator.up(details) : indicator.down(details);
  }
}
