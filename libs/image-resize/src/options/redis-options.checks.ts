import type {
  RedisClusterConfig,
  RedisClusterOptions,
  RedisConnectionOptions,
} from './image-resize-options.interface';
import { describeValue, optionChecks as option } from './validation';

/** Every key of {@link RedisConnectionOptions}; the compiler checks that none is missing. */
const CONNECTION_KEYS = [
  'host',
  'port',
  'path',
  'username',
  'password',
  'db',
  'tls',
  'family',
  'connectionName',
  'connectTimeout',
  'commandTimeout',
  'keepAlive',
  'retryStrategy',
  'sentinels',
  'name',
  'role',
  'sentinelUsername',
  'sentinelPassword',
  'enableTLSForSentinelMode',
  'sentinelTLS',
  'failoverDetector',
] as const satisfies ReadonlyArray<keyof RedisConnectionOptions>;

/** Every key of {@link RedisClusterOptions}. */
const CLUSTER_OPTION_KEYS = [
  'redisOptions',
  'scaleReads',
  'natMap',
  'slotsRefreshInterval',
  'slotsRefreshTimeout',
  'clusterRetryStrategy',
  'useSRVRecords',
  'maxRedirections',
  'retryDelayOnFailover',
  'retryDelayOnClusterDown',
  'retryDelayOnTryAgain',
  'retryDelayOnMoved',
] as const satisfies ReadonlyArray<keyof RedisClusterOptions>;

/** Compiles only while `keys` names every key of `T`. */
type Covers<T, K> = [Exclude<keyof T, K>] extends [never] ? true : never;
const _connectionKeysComplete: Covers<RedisConnectionOptions, (typeof CONNECTION_KEYS)[number]> = true;
const _clusterKeysComplete: Covers<RedisClusterOptions, (typeof CLUSTER_OPTION_KEYS)[number]> = true;
const _clusterConfigKeysComplete: Covers<RedisClusterConfig, 'cluster' | 'options'> = true;

/** Keys whose values are secrets: described by their type and length, never quoted. */
const SECRET_KEYS = new Set(['password', 'sentinelPassword', 'username', 'sentinelUsername']);

/**
 * Checks the `redis` option: a `redis:` / `rediss:` URL, connection options (Sentinel included), or
 * `{ cluster, options? }`. Unknown keys are refused, as everywhere else in the options, so that a
 * typo (`hots`, `prot`) fails at boot instead of connecting to the defaults.
 */
export function checkRedisOption(redis: unknown): void {
  if (redis === undefined) return;
  if (typeof redis === 'string') return checkRedisUrl(redis);
  const given = option.object('redis', redis, {
    expected: 'a URL string, ioredis options, or { cluster: [...] }',
  });
  if (!('cluster' in given)) return checkConnection('redis', given);
  option.object('redis', given, { keys: ['cluster', 'options'] });
  const nodes = option.list('redis.cluster', given.cluster, 'a non-empty array of nodes', { nonEmpty: true });
  option.each('redis.cluster', nodes, (path, node) => {
    if (typeof node === 'number') return option.integer(path, node, 1, 65535);
    if (typeof node === 'string') return option.string(path, node, 'a port, "host:port" or { host, port }');
    const { port, host } = option.object(path, node, {
      keys: ['host', 'port'],
      expected: 'a port, "host:port" or { host, port }',
    });
    if (host !== undefined) option.string(`${path}.host`, host);
    if (port !== undefined) option.integer(`${path}.port`, port, 1, 65535);
  });
  if (given.options === undefined) return;
  const options = option.object('redis.options', given.options, { keys: CLUSTER_OPTION_KEYS });
  if (options.redisOptions !== undefined) checkConnection('redis.options.redisOptions', options.redisOptions);
  if (options.scaleReads !== undefined) {
    option.oneOf('redis.options.scaleReads', options.scaleReads, ['master', 'slave', 'all']);
  }
}

function checkRedisUrl(redis: string): void {
  let url: URL;
  try {
    url = new URL(redis);
  } catch {
    // A Redis URL may hold a password: described, never quoted.
    throw option.invalid(
      'redis',
      'a URL such as redis://127.0.0.1:6379, ioredis options, or { cluster: [...] }',
      redis,
      { got: `${describeValue(redis, true)} that is not a URL` },
    );
  }
  option.assert(
    url.protocol === 'redis:' || url.protocol === 'rediss:',
    'redis',
    'a URL with the redis: or rediss: scheme',
    redis,
    { got: `the scheme ${JSON.stringify(url.protocol)}` },
  );
}

function checkConnection(path: string, value: unknown): void {
  const given = option.object(path, value, { keys: CONNECTION_KEYS });
  for (const key of ['host', 'path', 'name', 'connectionName'] as const) {
    if (given[key] !== undefined) option.string(`${path}.${key}`, given[key]);
  }
  for (const key of SECRET_KEYS) {
    if (given[key] !== undefined && typeof given[key] !== 'string') {
      throw option.invalid(`${path}.${key}`, 'a string', given[key], { secret: true });
    }
  }
  if (given.port !== undefined) option.integer(`${path}.port`, given.port, 1, 65535);
  if (given.db !== undefined) option.integer(`${path}.db`, given.db, 0);
  for (const key of ['connectTimeout', 'commandTimeout', 'keepAlive'] as const) {
    if (given[key] !== undefined) option.integer(`${path}.${key}`, given[key], 0);
  }
  if (given.family !== undefined) option.oneOf(`${path}.family`, given.family, [4, 6]);
  if (given.role !== undefined) option.oneOf(`${path}.role`, given.role, ['master', 'slave']);
  for (const key of ['failoverDetector', 'enableTLSForSentinelMode'] as const) {
    if (given[key] !== undefined) option.boolean(`${path}.${key}`, given[key]);
  }
  if (given.sentinels === undefined) return;
  const sentinels = option.list(`${path}.sentinels`, given.sentinels, 'a non-empty array of { host, port }', {
    nonEmpty: true,
  });
  option.each(`${path}.sentinels`, sentinels, (at, sentinel) => {
    const { host, port } = option.object(at, sentinel, { keys: ['host', 'port', 'family'] });
    if (host !== undefined) option.string(`${at}.host`, host);
    if (port !== undefined) option.integer(`${at}.port`, port, 1, 65535);
  });
  option.string(`${path}.name`, given.name, 'the master name that the sentinels know (with "sentinels")');
}
