import { Logger } from '@nestjs/common';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS, IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { describeErrorCause, ImageResizeConfigError } from '../errors/image-resize.errors';
import { isRedisClusterConfig } from '../options/image-resize.options';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';

/**
 * Defaults that keep a slow or absent Redis from holding requests: a command fails after a short
 * timeout, commands are not queued while disconnected (no pile-up during an outage), and the
 * request is then served without the cache. ioredis reconnects in the background. Commands issued
 * together go out as one pipeline (ioredis's auto-pipelining batches them per turn of the event loop):
 * concurrent hits share a round trip.
 */
const CLIENT_DEFAULTS: RedisOptions = {
  commandTimeout: DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 5000,
  enableAutoPipelining: true,
};

/**
 * Waits (at most `ms`) for the first connection, so that the first requests after boot can use the
 * cache. A Redis that is not there yet is not an error: images are served without it meanwhile.
 */
export async function whenReady(client: Redis | Cluster, ms = 3000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.once('ready', done);
  });
}

/**
 * Creates the ioredis client for the `redis` option. The cache talks to it directly, with Buffers
 * (`getBuffer`), so no store adapter sits in between. Connection problems are logged once per outage,
 * never thrown.
 */
export function createRedisClient(redis: NonNullable<ResolvedImageResizeOptions['redis']>): Redis | Cluster {
  // Loaded here, not at the top, so that an application on the in-memory cache needs no ioredis.
  const { Redis, Cluster } = loadPeer<typeof import('ioredis')>('ioredis');
  let client: Redis | Cluster;
  if (typeof redis === 'string') {
    client = new Redis(redis, CLIENT_DEFAULTS);
  } else if (isRedisClusterConfig(redis)) {
    client = new Cluster(redis.cluster, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      ...redis.options,
      redisOptions: { ...CLIENT_DEFAULTS, ...redis.options?.redisOptions },
    });
  } else {
    // With sentinels, follow a failover as soon as they announce it: a client left on the demoted
    // master would take purges there, which the new master's data then undoes.
    const sentinel: RedisOptions = redis.sentinels ? { failoverDetector: true } : {};
    client = new Redis({ ...CLIENT_DEFAULTS, ...sentinel, ...redis });
  }
  watchConnection(client);
  return client;
}

/**
 * Closes a client for good: `QUIT` when it is connected (replies still pending arrive first), then
 * `disconnect()`, which also closes what `QUIT` leaves open — a Sentinel client's failover-detector
 * subscriptions (ioredis 5 closes them on disconnect only), which would keep the process alive.
 */
export async function closeRedisClient(client: Redis | Cluster): Promise<void> {
  if (client.status === 'end') return;
  try {
    // Not connected (an outage): nothing to say goodbye to, and no 'end' to wait for.
    if (client.status === 'ready') {
      const ended = new Promise((resolve) => client.once('end', resolve));
      await client.quit();
      await ended;
    }
  } catch {
    // closed below
  } finally {
    client.disconnect();
  }
}

function loadPeer<T>(name: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch {
    throw new ImageResizeConfigError(`option "redis" needs the package ${name}: npm install ${name}`);
  }
}

function watchConnection(client: Redis | Cluster): void {
  const logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    // ioredis's messages name the server's address and port: the log gets the kind and code only.
    logger.warn(`Redis unavailable, serving images without the cache: ${describeErrorCause(error)}`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log('Redis available again, caching resumed');
  });
}
