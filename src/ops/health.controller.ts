import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { ImageResizeHealthIndicator } from 'nestjs-image-resize/terminus';

/**
 * The probes: `GET /health/live` for liveness (the process answers), `GET /health/ready` for
 * readiness (503 from the moment shutdown begins; a Redis outage shows in the details but keeps it
 * up, since images are still served), and `GET /health`, the same as readiness.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly images: ImageResizeHealthIndicator,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.images.isLive('images')]);
  }

  @Get(['ready', ''])
  @HealthCheck()
  ready() {
    return this.health.check([() => this.images.isReady('images')]);
  }
}
