import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '../image-resize.constants';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { isRedisClusterConfig } from '../options/image-resize.options';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { trackRedisProblems } from './redis-problem.tracker';

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
 * (`getBuffer`), so no store adapter sits in between. Connection problems are never thrown: each is
 * logged once per outage with its kind (`auth`, `tls`, `network`...; see `classifyRedisError`), and
 * shown by `redisProblemOf(client)` until the client is ready again.
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
  // Each connection problem is logged once, with its kind, and shown by the cache's state().
  trackRedisProblems(client);
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
    // After QUIT a plain connection has ended: disconnect() would only leave ioredis's 2 s timer behind
    // (it waits for a 'close' that has come already), which holds the process that long.
    const options = client.options as { sentinels?: unknown };
    const status: string = client.status; // changed by the awaits above
    if (status !== 'end' || options.sentinels) client.disconnect();
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
