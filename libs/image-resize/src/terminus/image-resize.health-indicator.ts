import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { type ImageResizeHealth, ImageResizeService } from '../image-resize.service';

/** When {@link ImageResizeHealthIndicator.isReady} reports `down`. */
export interface ImageResizeReadinessOptions {
  /**
   * Also `down` while the cache does not answer. Default false: images are still served (uncached)
   * while the cache is down, so taking every instance out of rotation during a Redis outage would turn
   * a slower service into no service. Set it only where an uncached instance is worse than none.
   */
  requireCache?: boolean;
}

/**
 * `@nestjs/terminus` health indicators of the library, one per probe:
 *
 * - {@link isLive} (liveness): `up` while the process can answer at all. Never `down` for the cache
 *   or for load: a restart would not fix either.
 * - {@link isReady} (readiness): `down` as soon as the application begins to shut down, so that the
 *   load balancer stops sending requests while the ones under way finish. A cache that is down shows
 *   in its details (`cache: 'down'`, and why) but keeps it `up` unless `requireCache` is set. Load
 *   (misses in flight, the queue) is reported, never a reason for `down`: a full queue already answers
 *   503 on its own, and a probe that flapped with load would move traffic onto the busiest instances.
 *
 * @example
 * ```ts
 * @Get('live') @HealthCheck()
 * live() { return this.health.check([() => this.images.isLive('images')]); }
 *
 * @Get('ready') @HealthCheck()
 * ready() { return this.health.check([() => this.images.isReady('images')]); }
 * ```
 */
@Injectable()
export class ImageResizeHealthIndicator {
  constructor(
    private readonly images: ImageResizeService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** Liveness: `up`, with the state of the process's work in its details. */
  async isLive<const Key extends string>(key: Key) {
    const { inFlight, queued, stopping } = await this.images.health();
    return this.indicators.check(key).up({ inFlight, queued, stopping });
  }

  /** Readiness: `down` once shutdown has begun, or (with `requireCache`) while the cache is down. */
  async isReady<const Key extends string>(key: Key, options: ImageResizeReadinessOptions = {}) {
    const indicator = this.indicators.check(key);
    const health = await this.images.health();
    const details = readinessDetails(health);
    const ready = health.ready && (health.cacheUp || options.requireCache !== true);
    return ready ? indicator.up(details) : indicator.down(details);
  }

  /**
   * Readiness, under its former name.
   *
   * @deprecated use {@link isReady} (the same check) or {@link isLive}
   */
  isHealthy<const Key extends string>(key: Key, options: ImageResizeReadinessOptions = {}) {
    return this.isReady(key, options);
  }
}

/** What a readiness probe shows: flat and JSON, with the cache's problem when there is one. */
function readinessDetails(health: ImageResizeHealth) {
  return {
    stopping: health.stopping,
    cache: health.cacheUp ? ('up' as const) : ('down' as const),
    backend: health.cache,
    ...(health.cacheProblem
      ? { cacheProblem: `${health.cacheProblem.kind}: ${health.cacheProblem.message}` }
      : {}),
    ...(health.hotTier !== undefined ? { hotTier: health.hotTier ? 'active' : 'off' } : {}),
    ...(health.breakerOpen !== undefined ? { breakerOpen: health.breakerOpen } : {}),
    inFlight: health.inFlight,
    queued: health.queued,
  };
}
