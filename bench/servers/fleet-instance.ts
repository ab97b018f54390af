/**
 * One instance of the fleet section (bench/lib/fleet.ts): a Nest application (Express) with one
 * `@ResizedImage()` route, `/logo/:id`, a 64x64 PNG of logo `id` fetched from the origin, cached in
 * the Redis the fleet shares. Started by bench/run.ts as a process of its own, eight at a time.
 * Configured by the environment:
 *
 * - `PORT`: where it listens (127.0.0.1)
 * - `ORIGIN`: base URL of the logos (`<ORIGIN>/logo/<id>.png`)
 * - `REDIS_URL`: the Redis, or `REDIS_CLUSTER`: the Cluster's nodes, `host:port,host:port,...`
 * - `KEY_PREFIX`: the library's `keyPrefix`
 * - `FLEET_LIB`: the library to load (a folder with its package.json, built), e.g. an older build in
 *   another checkout; default: `nestjs-image-resize` as this repository resolves it
 *
 * `GET /counts`: what the library did in this process since it started (from `ImageResizeMetrics`),
 * and the pub/sub messages its Redis connections received (counted on ioredis's connections, so
 * whatever the channels: PUBLISH, SPUBLISH or patterns).
 */
import 'reflect-metadata';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Controller, Get, Inject, Injectable, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type * as Library from 'nestjs-image-resize';

const libraryAt = process.env.FLEET_LIB ? resolve(process.env.FLEET_LIB) : undefined;
/** The library, and ioredis as the library resolves it (so that the counting below sees its connections). */
const fromLibrary = libraryAt ? createRequire(join(libraryAt, 'package.json')) : require;
const { ImageResizeMetrics, ImageResizeModule, ResizedImage } = fromLibrary(
  libraryAt ?? 'nestjs-image-resize',
) as typeof Library;
const { Redis } = fromLibrary('ioredis') as typeof import('ioredis');

/**
 * Pub/sub messages delivered to this process: ioredis emits `messageBuffer` (`pmessageBuffer`,
 * `smessageBuffer`) once for every message a connection receives, whether or not anyone listens.
 */
let delivered = 0;
const DELIVERIES = new Set(['messageBuffer', 'pmessageBuffer', 'smessageBuffer']);
const emit = Redis.prototype.emit;
Redis.prototype.emit = function (
  this: InstanceType<typeof Redis>,
  event: string | symbol,
  ...args: unknown[]
) {
  if (typeof event === 'string' && DELIVERIES.has(event)) delivered += 1;
  return emit.call(this, event, ...args);
};

@Injectable()
class Counters {
  resized = 0;
  fetched = 0;
  waited = 0;
  hits = 0;
  misses = 0;
  failed = 0;
  constructor(@Inject(ImageResizeMetrics) metrics: Library.ImageResizeMetrics) {
    metrics.subscribe((event) => {
      if (event.type === 'resized') this.resized += 1;
      else if (event.type === 'fetched') this.fetched += 1;
      else if (event.type === 'waited') this.waited += 1;
      else if (event.type === 'failed') this.failed += 1;
      else if (event.type === 'served') {
        if (event.cacheStatus === 'HIT') this.hits += 1;
        else this.misses += 1;
      }
    });
  }
}

@Controller()
class FleetController {
  constructor(private readonly counters: Counters) {}

  @Get('logo/:id')
  @ResizedImage({ width: 64, height: 64, format: 'png' })
  logo(@Param('id') id: string) {
    if (!/^\d{1,7}$/.test(id)) return null;
    return { url: `${process.env.ORIGIN}/logo/${id}.png`, cacheKey: `logo_${id}` };
  }

  @Get('counts')
  counts() {
    const { resized, fetched, waited, hits, misses, failed } = this.counters;
    return { resized, fetched, waited, hits, misses, failed, delivered };
  }
}

function redis(): Library.ImageResizeModuleOptions['redis'] {
  const cluster = process.env.REDIS_CLUSTER;
  if (!cluster) return process.env.REDIS_URL;
  return {
    cluster: cluster.split(',').map((node) => {
      const [host, port] = node.split(':');
      return { host, port: Number(port) };
    }),
  };
}

@Module({
  imports: [
    ImageResizeModule.forRoot({
      redis: redis(),
      keyPrefix: process.env.KEY_PREFIX ?? 'fleet_',
      sources: { allowPrivateNetworks: ['127.0.0.1'] },
      concurrency: 1,
    }),
  ],
  controllers: [FleetController],
  providers: [Counters],
})
class FleetModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(FleetModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  // Longer than the load generator's connections stay idle, so that none is closed as it is reused.
  (app.getHttpServer() as import('node:http').Server).keepAliveTimeout = 65_000;
  await app.listen(Number(process.env.PORT), '127.0.0.1');
}

void main();
