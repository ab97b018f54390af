import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { ImageResizeHealthIndicator } from 'nestjs-image-resize/terminus';

/** `GET /health`: the image cache answers and the misses in flight stay few. */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly images: ImageResizeHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.images.isHealthy('images')]);
  }
}
