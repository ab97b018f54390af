import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ImageResizePrometheusExporter } from 'nestjs-image-resize/prometheus';

/** `GET /metrics`: the library's metrics in Prometheus' text format. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly exporter: ImageResizePrometheusExporter) {}

  @Get()
  async metrics(@Res() response: Response): Promise<void> {
    response.type(this.exporter.contentType).send(await this.exporter.metrics());
  }
}
