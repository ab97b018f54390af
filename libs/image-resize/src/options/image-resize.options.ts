import { realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  DEFAULT_MAX_QUEUE,
  DEFAULT_ENCODERS,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_HOT_CACHE_MAX_AGE_MS,
  DEFAULT_HOT_CACHE_MAX_BYTES,
  DEFAULT_KEY_PREFIX,
  DEFAULT_MAX_ANIMATION_FRAMES,
  DEFAULT_MAX_DECODED_BYTES,
  DEFAULT_MAX_JPEG_SCANS,
  DEFAULT_MAX_SOURCE_BYTES_IN_FLIGHT,
  DEFAULT_MAX_INPUT_PIXELS,
  DEFAULT_MAX_OUTPUT_DIMENSION,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_SOURCE_BYTES,
  DEFAULT_MEMORY_MAX_BYTES,
  DEFAULT_PROCESSING_TIMEOUT_MS,
  DEFAULT_TTL_SECONDS,
} from '../image-resize.constants';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import type {
  CacheControlOptions,
  EncoderOptions,
  RedisClusterConfig,
  ImageResizeModuleOptions,
  ResolvedImageResizeOptions,
} from './image-resize-options.interface';

const KNOWN_OPTIONS = new Set<string>([
  'redis',
  'useCacheManager',
  'hotCache',
  'memory',
  'ttl',
  'keyPrefix',
  'allowRedraw',
  'maxSourceBytes',
  'maxSourceBytesInFlight',
  'fetchTimeoutMs',
  'sources',
  'maxInputPixels',
  'maxDecodedBytes',
  'maxJpegScans',
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

/**
 * The one way an option is refused: `option "<name>" must be <expected> (got <what>)`, where `what`
 * comes from {@link describeValue} (or says more, e.g. which key of an object is wrong).
 */
function refuse(name: string, expected: string, got: string, verb = 'must be'): ImageResizeConfigError {
  return new ImageResizeConfigError(`option "${name}" ${verb} ${expected} (got ${got})`);
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/**
 * What a refused value is: its type, and the value itself when it is short and not `secret` (signing
 * keys and Redis URLs are described by type and length only).
 */
export function describeValue(value: unknown, secret = false): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : 'an array';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      if (secret) return `a string of ${plural(value.length, 'character')}`;
      return value.length > 60
        ? `a string of ${value.length} characters`
        : `a string ${JSON.stringify(value)}`;
    case 'number':
      return secret ? 'a number' : `the number ${value}`;
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

/** The first element of `list` that `ok` refuses, described: `an array with a string "a b"`. */
function describeElement(list: unknown[], ok: (element: unknown) => boolean, secret = false): string {
  const bad = list.find((element) => !ok(element));
  return bad === undefined && list.length === 0
    ? 'an empty array'
    : `an array with ${describeValue(bad, secret)}`;
}

function positiveInteger(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw refuse(name, `an integer >= ${min}`, describeValue(value));
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
      // A Redis URL may hold a password: described, never quoted.
      throw refuse(
        'redis',
        'a URL such as redis://127.0.0.1:6379, ioredis options, or { cluster: [...] }',
        `${describeValue(redis, true)} that is not a URL`,
      );
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw refuse(
        'redis',
        'the redis: or rediss: scheme',
        `the scheme ${JSON.stringify(url.protocol)}`,
        'must use',
      );
    }
    return;
  }
  if (typeof redis !== 'object' || redis === null || Array.isArray(redis)) {
    throw refuse('redis', 'a URL string, ioredis options, or { cluster: [...] }', describeValue(redis));
  }
  if ('cluster' in redis) {
    const nodes = (redis as { cluster: unknown }).cluster;
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw refuse('redis.cluster', 'a non-empty array of nodes', describeValue(nodes));
    }
  }
}

const HOST_PATTERN = /^(\*\.)?[a-z0-9._:[\]-]+$/i;
/** `name:port`, `1.2.3.4:port` or `[v6]:port`; a bare IPv6 address has several colons and no brackets. */
const HOST_WITH_PORT = /^(\[[^\]]*\]|[^:[\]]+):(\d*)$/;

function hostList(name: string, value: unknown): string[] {
  const isHost = (host: unknown) => typeof host === 'string' && HOST_PATTERN.test(host);
  const expected = 'an array of host names such as "cdn.example.com" or "*.example.com"';
  if (!Array.isArray(value)) throw refuse(name, expected, describeValue(value));
  for (const host of value) {
    // Hosts are compared without their port, so an entry with one would never match.
    const withPort = typeof host === 'string' ? HOST_WITH_PORT.exec(host) : null;
    if (withPort) {
      throw new ImageResizeConfigError(
        `option "${name}" lists "${host}" with a port: drop the port ("${withPort[1]}"); hosts are matched on any port`,
      );
    }
  }
  if (!value.every(isHost)) throw refuse(name, expected, describeElement(value, isHost));
  return value as string[];
}

function resolveSources(value: unknown): ResolvedImageResizeOptions['sources'] {
  if (value === undefined) return { allowPrivateNetworks: false, maxRedirects: DEFAULT_MAX_REDIRECTS };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw refuse(
      'sources',
      'an object { allowedHosts?, allowPrivateNetworks?, maxRedirects?, fileRoot? }',
      describeValue(value),
    );
  }
  const sources = value as Record<string, unknown>;
  for (const key of Object.keys(sources)) {
    if (!['allowedHosts', 'allowPrivateNetworks', 'maxRedirects', 'fileRoot'].includes(key)) {
      throw new ImageResizeConfigError(
        `unknown option "sources.${key}"; known options are: allowedHosts, allowPrivateNetworks, maxRedirects, fileRoot`,
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
    fileRoot: resolveFileRoot(sources.fileRoot),
  };
}

/** `sources.fileRoot` as an absolute path without symbolic links; it must be an existing folder. */
function resolveFileRoot(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw refuse('sources.fileRoot', 'the path of a folder', describeValue(value));
  }
  let real: string;
  try {
    real = realpathSync(value);
  } catch {
    throw refuse('sources.fileRoot', 'an existing folder', `${describeValue(value)} that does not exist`);
  }
  if (!statSync(real).isDirectory()) {
    throw refuse('sources.fileRoot', 'a folder', `${describeValue(value)}, which is not a folder`);
  }
  return real;
}

function resolveHotCache(value: unknown, redis: unknown): ResolvedImageResizeOptions['hotCache'] {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw refuse('hotCache', 'false or { maxBytes?, maxAgeMs? }', describeValue(value));
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
  const expected = '{ sMaxAge?: seconds, immutable?: boolean }';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw refuse(name, expected, describeValue(value));
  }
  const given = value as CacheControlOptions;
  const unknownKey = Object.keys(value).find((key) => key !== 'sMaxAge' && key !== 'immutable');
  if (unknownKey !== undefined) throw refuse(name, expected, `the unknown key ${JSON.stringify(unknownKey)}`);
  if (given.sMaxAge !== undefined && !(Number.isSafeInteger(given.sMaxAge) && given.sMaxAge >= 0)) {
    throw refuse(name, expected, `sMaxAge: ${describeValue(given.sMaxAge)}`);
  }
  if (given.immutable !== undefined && typeof given.immutable !== 'boolean') {
    throw refuse(name, expected, `immutable: ${describeValue(given.immutable)}`);
  }
  return { ...given };
}

function quality(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 100) {
    throw refuse(name, 'an integer from 1 to 100', describeValue(value));
  }
  return value;
}

function resolveEncoders(value: unknown): ResolvedImageResizeOptions['encoders'] {
  if (value === undefined) value = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw refuse('encoders', 'an object { jpeg?, webp?, avif?, png? }', describeValue(value));
  }
  const given = value as EncoderOptions;
  for (const key of Object.keys(given)) {
    if (!['jpeg', 'webp', 'avif', 'png'].includes(key)) {
      throw new ImageResizeConfigError(`unknown option "encoders.${key}"; known: jpeg, webp, avif, png`);
    }
  }
  const effort = given.avif?.effort ?? DEFAULT_ENCODERS.avif.effort;
  if (!Number.isInteger(effort) || effort < 0 || effort > 9) {
    throw refuse('encoders.avif.effort', 'an integer from 0 to 9', describeValue(effort));
  }
  const palette = given.png?.palette ?? DEFAULT_ENCODERS.png.palette;
  if (typeof palette !== 'boolean') {
    throw refuse('encoders.png.palette', 'a boolean', describeValue(palette));
  }
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

/** `{ keys: [...] }`, each key a string of 32 or more characters; keys are described, never quoted. */
function checkSigning(signing: unknown): void {
  if (signing === undefined) return;
  const expected = '{ keys: [...] } with at least one key of 32 or more characters (newest first)';
  if (typeof signing !== 'object' || signing === null || Array.isArray(signing)) {
    throw refuse('signing', expected, describeValue(signing, true));
  }
  const keys = (signing as { keys?: unknown }).keys;
  const isKey = (key: unknown) => typeof key === 'string' && key.length >= 32;
  if (!Array.isArray(keys)) throw refuse('signing', expected, describeValue(keys, true));
  if (keys.length === 0 || !keys.every(isKey)) {
    throw refuse('signing', expected, describeElement(keys, isKey, true));
  }
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
    throw new ImageResizeConfigError(`options must be an object (got ${describeValue(opts)})`);
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new ImageResizeConfigError(
        `unknown option "${key}"; known options are: ${[...KNOWN_OPTIONS].join(', ')}`,
      );
    }
  }
  checkRedis(opts.redis);
  if (
    opts.memory !== undefined &&
    (typeof opts.memory !== 'object' || opts.memory === null || Array.isArray(opts.memory))
  ) {
    throw refuse('memory', 'an object such as { maxBytes: 67108864 }', describeValue(opts.memory));
  }
  if (opts.memory && opts.redis !== undefined) {
    throw new ImageResizeConfigError(
      'options "memory" and "redis" exclude each other: "memory" configures the cache used without Redis',
    );
  }
  const useCacheManager = opts.useCacheManager ?? false;
  if (typeof useCacheManager !== 'boolean') {
    throw refuse('useCacheManager', 'a boolean', describeValue(useCacheManager));
  }
  if (useCacheManager && (opts.redis !== undefined || opts.memory !== undefined)) {
    throw new ImageResizeConfigError(
      'option "useCacheManager" excludes "redis" and "memory": the images go to the CACHE_MANAGER of @nestjs/cache-manager',
    );
  }
  const keyPrefix = opts.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || !/^[\w.:-]{0,64}$/.test(keyPrefix)) {
    throw refuse(
      'keyPrefix',
      'at most 64 characters of letters, digits, "_", ".", ":" or "-"',
      describeValue(keyPrefix),
    );
  }
  const allowRedraw = opts.allowRedraw ?? false;
  if (typeof allowRedraw !== 'boolean' && typeof allowRedraw !== 'function') {
    throw refuse('allowRedraw', 'a boolean or a function (request) => boolean', describeValue(allowRedraw));
  }
  if (
    opts.maxSourceBytesInFlight !== undefined &&
    opts.maxSourceBytesInFlight < (opts.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES)
  ) {
    throw refuse(
      'maxSourceBytesInFlight',
      `at least "maxSourceBytes" (${opts.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES}), or no source of that size could ever load`,
      describeValue(opts.maxSourceBytesInFlight),
    );
  }
  const allowSvg = opts.allowSvg ?? false;
  if (typeof allowSvg !== 'boolean') throw refuse('allowSvg', 'a boolean', describeValue(allowSvg));
  checkSigning(opts.signing);
  const signing = opts.signing;
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
    maxSourceBytesInFlight: positiveInteger(
      'maxSourceBytesInFlight',
      opts.maxSourceBytesInFlight,
      DEFAULT_MAX_SOURCE_BYTES_IN_FLIGHT,
    ),
    fetchTimeoutMs: positiveInteger('fetchTimeoutMs', opts.fetchTimeoutMs, DEFAULT_FETCH_TIMEOUT_MS),
    sources: resolveSources(opts.sources),
    maxInputPixels: positiveInteger('maxInputPixels', opts.maxInputPixels, DEFAULT_MAX_INPUT_PIXELS),
    maxDecodedBytes: positiveInteger('maxDecodedBytes', opts.maxDecodedBytes, DEFAULT_MAX_DECODED_BYTES),
    maxJpegScans: positiveInteger('maxJpegScans', opts.maxJpegScans, DEFAULT_MAX_JPEG_SCANS),
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
