import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { ImageResizeModule } from 'nestjs-image-resize';
import { ImageResizePrometheusExporter } from 'nestjs-image-resize/prometheus';
import { ImageResizeHealthIndicator } from 'nestjs-image-resize/terminus';
import { AssetsController } from './assets/assets.controller';
import { AssetsService } from './assets/assets.service';
import { OriginalsController } from './originals/originals.controller';
import { OriginalsService } from './originals/originals.service';
import { HealthController } from './ops/health.controller';
import { MetricsController } from './ops/metrics.controller';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    TerminusModule,
    ImageResizeModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        // Redis when REDIS_URL is set, the bounded in-memory cache otherwise.
        redis: config.get<string>('REDIS_URL') || undefined,
        // Lets `?redraw` re-create a logo while developing; keep it off (the default) in production.
        allowRedraw: config.get<string>('NODE_ENV') !== 'production',
        // The originals are served by this app itself, on loopback: allow exactly that, nothing else private.
        sources: { allowPrivateNetworks: ['127.0.0.1'] },
      }),
    }),
  ],
  controllers: [AssetsController, OriginalsController, HealthController, MetricsController],
  providers: [AssetsService, OriginalsService, ImageResizeHealthIndicator, ImageResizePrometheusExporter],
})
export class AppModule {}
