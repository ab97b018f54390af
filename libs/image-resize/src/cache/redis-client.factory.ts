import { Logger } from '@nestjs/common';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS, IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import type {
  RedisClusterConfig,
  ResolvedImageResizeOptions,
} from '../interfaces/image-resize-options.interface';

/**
 * Defaults that keep a slow or absent Redis from holding requests: a command fails after a short
 * timeout and is retried at most once, and the request is then served without the cache.
 */
const CLIENT_DEFAULTS: RedisOptions = {
  commandTimeout: DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  maxRetriesPerRequest: 1,
  connectTimeout: 5000,
};

function isClusterConfig(redis: unknown): redis is RedisClusterConfig {
  return typeof redis === 'object' && redis !== null && 'cluster' in redis;
}

/**
 * Creates the ioredis client for the `redis` option through a `cache-manager-ioredis-yet` store and
 * returns the store's client. Connection problems are logged once per outage, never thrown.
 */
export function createRedisClient(redis: NonNullable<ResolvedImageResizeOptions['redis']>): Redis | Cluster {
  // Loaded here, not at the top, so that an application on the in-memory cache needs neither package.
  const { Redis, Cluster } = loadPeer<typeof import('ioredis')>('ioredis');
  const { redisInsStore } = loadPeer<typeof import('cache-manager-ioredis-yet')>('cache-manager-ioredis-yet');
  let client: Redis | Cluster;
  if (typeof redis === 'string') {
    client = new Redis(redis, CLIENT_DEFAULTS);
  } else if (isClusterConfig(redis)) {
    client = new Cluster(redis.cluster, {
      ...redis.options,
      redisOptions: { ...CLIENT_DEFAULTS, ...redis.options?.redisOptions },
    });
  } else {
    client = new Redis({ ...CLIENT_DEFAULTS, ...redis });
  }
  watchConnection(client);
  return redisInsStore(client).client;
}

function loadPeer<T>(name: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch {
    throw new ImageResizeConfigError(
      `option "redis" needs the packages ioredis and cache-manager-ioredis-yet: npm install ioredis cache-manager-ioredis-yet (${name} is missing)`,
    );
  }
}

function watchConnection(client: Redis | Cluster): void {
  const logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn(`Redis unavailable, serving images without the cache: ${error.message}`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log('Redis available again, caching resumed');
  });
}
