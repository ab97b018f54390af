import { availableParallelism } from 'node:os';
import {
  DEFAULT_MAX_QUEUE,
  DEFAULT_ENCODERS,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_HOT_CACHE_MAX_AGE_MS,
  DEFAULT_HOT_CACHE_MAX_BYTES,
  DEFAULT_KEY_PREFIX,
  DEFAULT_MAX_ANIMATION_FRAMES,
  DEFAULT_MAX_INPUT_PIXELS,
  DEFAULT_MAX_OUTPUT_DIMENSION,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_SOURCE_BYTES,
  DEFAULT_MEMORY_MAX_BYTES,
  DEFAULT_PROCESSING_TIMEOUT_MS,
  DEFAULT_TTL_SECONDS,
} from './image-resize.constants';
import { ImageResizeConfigError } from './errors/image-resize.errors';
import type {
  CacheControlOptions,
  EncoderOptions,
  RedisClusterConfig,
  ImageResizeModuleOptions,
  ResolvedImageResizeOptions,
} from './interfaces/image-resize-options.interface';

const KNOWN_OPTIONS = new Set<string>([
  'redis',
  'useCacheManager',
  'hotCache',
  'memory',
  'ttl',
  'keyPrefix',
  'allowRedraw',
  'maxSourceBytes',
  'fetchTimeoutMs',
  'sources',
  'maxInputPixels',
  'maxAnimationFrames',
  'processingTimeoutMs',
  'concurrency',
  'maxQueue',
  'allowSvg',
  'signing',
  'encoders',
  'cacheControl',
  'maxOutputWidth',
  'maxOutputHeight',
]);

function positiveInteger(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ImageResizeConfigError(
      `option "${name}" must be an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Whether the `redis` option configures a Redis Cluster. */
export function isRedisClusterConfig(redis: unknown): redis is RedisClusterConfig {
  return typeof redis === 'object' && redis !== null && 'cluster' in redis;
}

function checkRedis(redis: unknown): void {
  if (redis === undefined) return;
  if (typeof redis === 'string') {
    let url: URL;
    try {
      url = new URL(redis);
    } catch {
      throw new ImageResizeConfigError(
        'option "redis" must be a URL such as redis://127.0.0.1:6379, ioredis options, or { cluster: [...] }',
      );
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new ImageResizeConfigError(
        `option "redis" must use the redis: or rediss: scheme, got "${url.protocol}"`,
      );
    }
    return;
  }
  if (typeof redis !== 'object' || redis === null || Array.isArray(redis)) {
    throw new ImageResizeConfigError(
      'option "redis" must be a URL string, ioredis options, or { cluster: [...] }',
    );
  }
  if ('cluster' in redis) {
    const nodes = (redis as { cluster: unknown }).cluster;
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw new ImageResizeConfigError('option "redis.cluster" must be a non-empty array of nodes');
    }
  }
}

const HOST_PATTERN = /^(\*\.)?[a-z0-9._:[\]-]+$/i;

function hostList(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.some((host) => typeof host !== 'string' || !HOST_PATTERN.test(host))) {
    throw new ImageResizeConfigError(
      `option "${name}" must be an array of host names such as "cdn.example.com" or "*.example.com"`,
    );
  }
  return value as string[];
}

function resolveSources(value: unknown): ResolvedImageResizeOptions['sources'] {
  if (value === undefined) return { allowPrivateNetworks: false, maxRedirects: DEFAULT_MAX_REDIRECTS };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ImageResizeConfigError(
      'option "sources" must be an object { allowedHosts?, allowPrivateNetworks?, maxRedirects? }',
    );
  }
  const sources = value as Record<string, unknown>;
  for (const key of Object.keys(sources)) {
    if (!['allowedHosts', 'allowPrivateNetworks', 'maxRedirects'].includes(key)) {
      throw new ImageResizeConfigError(
        `unknown option "sources.${key}"; known options are: allowedHosts, allowPrivateNetworks, maxRedirects`,
      );
    }
  }
  const allowPrivate = sources.allowPrivateNetworks ?? false;
  return {
    allowedHosts:
      sources.allowedHosts === undefined ? undefined : hostList('sources.allowedHosts', sources.allowedHosts),
    allowPrivateNetworks:
      typeof allowPrivate === 'boolean'
        ? allowPrivate
        : hostList('sources.allowPrivateNetworks', allowPrivate),
    maxRedirects: positiveInteger('sources.maxRedirects', sources.maxRedirects, DEFAULT_MAX_REDIRECTS, 0),
  };
}

function resolveHotCache(value: unknown, redis: unknown): ResolvedImageResizeOptions['hotCache'] {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new ImageResizeConfigError('option "hotCache" must be false or { maxBytes?, maxAgeMs? }');
  }
  const given = (value ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'maxBytes' && key !== 'maxAgeMs') {
      throw new ImageResizeConfigError(`unknown option "hotCache.${key}"; known: maxBytes, maxAgeMs`);
    }
  }
  if (redis === undefined) {
    if (value !== undefined) {
      throw new ImageResizeConfigError(
        'option "hotCache" is the in-process tier in front of "redis": set "redis", or size the in-memory cache with "memory"',
      );
    }
    return false;
  }
  return {
    maxBytes: positiveInteger('hotCache.maxBytes', given.maxBytes, DEFAULT_HOT_CACHE_MAX_BYTES, 1024),
    maxAgeMs: positiveInteger('hotCache.maxAgeMs', given.maxAgeMs, DEFAULT_HOT_CACHE_MAX_AGE_MS, 100),
  };
}

/** Checks `{ sMaxAge?, immutable? }`; `undefined` stays `undefined`. */
export function checkCacheControl(name: string, value: unknown): CacheControlOptions | undefined {
  if (value === undefined) return undefined;
  const given = value as CacheControlOptions;
  if (
    typeof value !== 'object' ||
    value === null ||
    Object.keys(value).some((key) => key !== 'sMaxAge' && key !== 'immutable') ||
    (given.sMaxAge !== undefined && !(Number.isSafeInteger(given.sMaxAge) && given.sMaxAge >= 0)) ||
    (given.immutable !== undefined && typeof given.immutable !== 'boolean')
  ) {
    throw new ImageResizeConfigError(`option "${name}" must be { sMaxAge?: seconds, immutable?: boolean }`);
  }
  return { ...given };
}

function quality(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 100) {
    throw new ImageResizeConfigError(`option "${name}" must be an integer from 1 to 100`);
  }
  return value;
}

function resolveEncoders(value: unknown): ResolvedImageResizeOptions['encoders'] {
  if (value === undefined) value = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ImageResizeConfigError('option "encoders" must be an object { jpeg?, webp?, avif?, png? }');
  }
  const given = value as EncoderOptions;
  for (const key of Object.keys(given)) {
    if (!['jpeg', 'webp', 'avif', 'png'].includes(key)) {
      throw new ImageResizeConfigError(`unknown option "encoders.${key}"; known: jpeg, webp, avif, png`);
    }
  }
  const effort = given.avif?.effort ?? DEFAULT_ENCODERS.avif.effort;
  if (!Number.isInteger(effort) || effort < 0 || effort > 9) {
    throw new ImageResizeConfigError('option "encoders.avif.effort" must be an integer from 0 to 9');
  }
  const palette = given.png?.palette ?? DEFAULT_ENCODERS.png.palette;
  if (typeof palette !== 'boolean')
    throw new ImageResizeConfigError('option "encoders.png.palette" must be a boolean');
  return {
    jpeg: { quality: quality('encoders.jpeg.quality', given.jpeg?.quality, DEFAULT_ENCODERS.jpeg.quality) },
    webp: { quality: quality('encoders.webp.quality', given.webp?.quality, DEFAULT_ENCODERS.webp.quality) },
    avif: {
      quality: quality('encoders.avif.quality', given.avif?.quality, DEFAULT_ENCODERS.avif.quality),
      effort,
    },
    png: { palette },
  };
}

/**
 * Applies the defaults to the module's options and validates them. Throws an
 * {@link ImageResizeConfigError} that names the offending option; nothing falls back silently.
 */
export function resolveImageResizeOptions(
  options: ImageResizeModuleOptions | undefined | null,
): ResolvedImageResizeOptions {
  const opts: ImageResizeModuleOptions = options ?? {};
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new ImageResizeConfigError('options must be an object');
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new ImageResizeConfigError(
        `unknown option "${key}"; known options are: ${[...KNOWN_OPTIONS].join(', ')}`,
      );
    }
  }
  checkRedis(opts.redis);
  if (opts.memory !== undefined && (typeof opts.memory !== 'object' || opts.memory === null)) {
    throw new ImageResizeConfigError('option "memory" must be an object such as { maxBytes: 67108864 }');
  }
  if (opts.memory && opts.redis !== undefined) {
    throw new ImageResizeConfigError(
      'options "memory" and "redis" exclude each other: "memory" configures the cache used without Redis',
    );
  }
  const useCacheManager = opts.useCacheManager ?? false;
  if (typeof useCacheManager !== 'boolean') {
    throw new ImageResizeConfigError('option "useCacheManager" must be a boolean');
  }
  if (useCacheManager && (opts.redis !== undefined || opts.memory !== undefined)) {
    throw new ImageResizeConfigError(
      'option "useCacheManager" excludes "redis" and "memory": the images go to the CACHE_MANAGER of @nestjs/cache-manager',
    );
  }
  const keyPrefix = opts.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || !/^[\w.:-]{0,64}$/.test(keyPrefix)) {
    throw new ImageResizeConfigError(
      'option "keyPrefix" must be at most 64 characters of letters, digits, "_", ".", ":" or "-"',
    );
  }
  const allowRedraw = opts.allowRedraw ?? false;
  if (typeof allowRedraw !== 'boolean' && typeof allowRedraw !== 'function') {
    throw new ImageResizeConfigError(
      'option "allowRedraw" must be a boolean or a function (request) => boolean',
    );
  }
  const allowSvg = opts.allowSvg ?? false;
  if (typeof allowSvg !== 'boolean') throw new ImageResizeConfigError('option "allowSvg" must be a boolean');
  const signing = opts.signing;
  if (
    signing !== undefined &&
    (typeof signing !== 'object' ||
      signing === null ||
      !Array.isArray(signing.keys) ||
      signing.keys.length === 0 ||
      signing.keys.some((key) => typeof key !== 'string' || key.length < 32))
  ) {
    throw new ImageResizeConfigError(
      'option "signing" must be { keys: [...] } with at least one key of 32 or more characters (newest first)',
    );
  }
  return {
    signing: signing && { keys: [...signing.keys] },
    encoders: resolveEncoders(opts.encoders),
    cacheControl: checkCacheControl('cacheControl', opts.cacheControl) ?? {},
    redis: opts.redis,
    useCacheManager,
    hotCache: resolveHotCache(opts.hotCache, opts.redis),
    memory: {
      maxBytes: positiveInteger('memory.maxBytes', opts.memory?.maxBytes, DEFAULT_MEMORY_MAX_BYTES, 1024),
    },
    ttl: positiveInteger('ttl', opts.ttl, DEFAULT_TTL_SECONDS),
    keyPrefix,
    allowRedraw,
    maxSourceBytes: positiveInteger('maxSourceBytes', opts.maxSourceBytes, DEFAULT_MAX_SOURCE_BYTES),
    fetchTimeoutMs: positiveInteger('fetchTimeoutMs', opts.fetchTimeoutMs, DEFAULT_FETCH_TIMEOUT_MS),
    sources: resolveSources(opts.sources),
    maxInputPixels: positiveInteger('maxInputPixels', opts.maxInputPixels, DEFAULT_MAX_INPUT_PIXELS),
    maxAnimationFrames: positiveInteger(
      'maxAnimationFrames',
      opts.maxAnimationFrames,
      DEFAULT_MAX_ANIMATION_FRAMES,
    ),
    processingTimeoutMs: positiveInteger(
      'processingTimeoutMs',
      opts.processingTimeoutMs,
      DEFAULT_PROCESSING_TIMEOUT_MS,
    ),
    allowSvg,
    maxOutputWidth: positiveInteger('maxOutputWidth', opts.maxOutputWidth, DEFAULT_MAX_OUTPUT_DIMENSION),
    maxOutputHeight: positiveInteger('maxOutputHeight', opts.maxOutputHeight, DEFAULT_MAX_OUTPUT_DIMENSION),
    concurrency: positiveInteger('concurrency', opts.concurrency, availableParallelism()),
    maxQueue: positiveInteger('maxQueue', opts.maxQueue, DEFAULT_MAX_QUEUE, 0),
  };
}
