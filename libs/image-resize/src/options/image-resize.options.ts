import { realpathSync, statSync } from 'node:fs';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { DEFAULT_OPTIONS, keysOf } from './image-resize.defaults';
import { checkRedisOption } from './redis-options.checks';
import type {
  CacheControlOptions,
  EncoderOptions,
  ImageResizeModuleOptions,
  RedisClusterConfig,
  ResolvedImageResizeOptions,
} from './image-resize-options.interface';
import {
  describeValue,
  is,
  objectWith,
  optionChecks as option,
  type ParameterChecks,
  withDefault,
} from './validation';

type OptionKey = keyof ImageResizeModuleOptions;

/** What option `originMaxAge` may be. */
const ORIGIN_MAX_AGE = ['ignore', 'longer-wins'] as const;

/** Resolves one option: checks what was given (`undefined` when nothing was) and applies its default. */
type Resolver<K extends OptionKey> = (
  value: unknown,
  given: ImageResizeModuleOptions,
) => ResolvedImageResizeOptions[K];

/** The options whose default is a number or a boolean: {@link resolvePlain} checks them unless told otherwise. */
type PlainOption = {
  [K in OptionKey]: (typeof DEFAULT_OPTIONS)[K] extends number | boolean ? K : never;
}[OptionKey];

/** `true` when `A` and `B` have the same keys. */
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
/** Does not compile when an option is missing from the resolved options, or the reverse. */
const _resolvedHasEveryOption: SameKeys<ImageResizeModuleOptions, ResolvedImageResizeOptions> = true;

/** Whether the `redis` option configures a Redis Cluster. */
export function isRedisClusterConfig(redis: unknown): redis is RedisClusterConfig {
  return typeof redis === 'object' && redis !== null && 'cluster' in redis;
}

const HOST_PATTERN = /^(\*\.)?[a-z0-9._:[\]-]+$/i;
/** `name:port`, `1.2.3.4:port` or `[v6]:port`; a bare IPv6 address has several colons and no brackets. */
const HOST_WITH_PORT = /^(\[[^\]]*\]|[^:[\]]+):(\d*)$/;

function hostList(path: string, value: unknown): string[] {
  const hosts = option.list(
    path,
    value,
    'an array of host names such as "cdn.example.com" or "*.example.com"',
  );
  return option.each(path, hosts, (at, host) => {
    // Hosts are compared without their port, so an entry with one would never match.
    const withPort = typeof host === 'string' ? HOST_WITH_PORT.exec(host) : null;
    if (withPort) {
      throw option.invalid(
        at,
        `a host without a port, such as "${withPort[1]}" (hosts are matched on any port)`,
        host,
      );
    }
    return option.matching(
      at,
      host,
      HOST_PATTERN,
      'a host name such as "cdn.example.com" or "*.example.com"',
    );
  });
}

function resolveSources(value: unknown): ResolvedImageResizeOptions['sources'] {
  const defaults = DEFAULT_OPTIONS.sources;
  if (value === undefined) {
    return { allowPrivateNetworks: defaults.allowPrivateNetworks, maxRedirects: defaults.maxRedirects };
  }
  const sources = option.object('sources', value, { keys: keysOf(defaults) });
  const allowPrivate = sources.allowPrivateNetworks ?? defaults.allowPrivateNetworks;
  return {
    allowedHosts:
      sources.allowedHosts === undefined ? undefined : hostList('sources.allowedHosts', sources.allowedHosts),
    allowPrivateNetworks: is.bool(allowPrivate)
      ? allowPrivate
      : hostList('sources.allowPrivateNetworks', allowPrivate),
    maxRedirects: withDefault(sources.maxRedirects, defaults.maxRedirects, (given) =>
      option.integer('sources.maxRedirects', given, 0),
    ),
    fileRoot: resolveFileRoot(sources.fileRoot),
  };
}

/** `sources.fileRoot` as an absolute path without symbolic links; it must be an existing folder. */
function resolveFileRoot(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  option.assert(is.string(value) && value.trim() !== '', 'sources.fileRoot', 'the path of a folder', value);
  const path = value as string;
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw option.invalid('sources.fileRoot', 'an existing folder', path, {
      got: `${describeValue(path)} that does not exist`,
    });
  }
  option.assert(statSync(real).isDirectory(), 'sources.fileRoot', 'a folder', path, {
    got: `${describeValue(path)}, which is not a folder`,
  });
  return real;
}

function resolveHotCache(
  value: unknown,
  given: ImageResizeModuleOptions,
): ResolvedImageResizeOptions['hotCache'] {
  if (value === false) return false;
  const defaults = DEFAULT_OPTIONS.hotCache;
  const keys = keysOf(defaults);
  const hot =
    value === undefined
      ? {}
      : option.object('hotCache', value, { keys, expected: `false or ${objectWith(keys)}` });
  if (given.redis === undefined) {
    if (value !== undefined) {
      throw new ImageResizeConfigError(
        'option "hotCache" is the in-process tier in front of "redis": set "redis", or size the in-memory cache with "memory"',
      );
    }
    return false;
  }
  return {
    maxBytes: withDefault(hot.maxBytes, defaults.maxBytes, (bytes) =>
      option.integer('hotCache.maxBytes', bytes, 1024),
    ),
    maxAgeMs: withDefault(hot.maxAgeMs, defaults.maxAgeMs, (ms) =>
      option.integer('hotCache.maxAgeMs', ms, 100),
    ),
    outageMaxAgeMs: withDefault(hot.outageMaxAgeMs, defaults.outageMaxAgeMs, (ms) =>
      option.integer('hotCache.outageMaxAgeMs', ms, 0),
    ),
  };
}

/**
 * Checks `{ private?, sMaxAge?, immutable? }` (the module's `cacheControl`, or a route's), naming its
 * parameters as `checks` does; `undefined` stays `undefined`. A private image is for its user's
 * browser only: `private: true` with `sMaxAge` (any value) or `immutable: true` is refused, rather
 * than one of them silently dropped.
 */
export function checkCacheControl(
  checks: ParameterChecks,
  path: string,
  value: unknown,
): CacheControlOptions | undefined {
  if (value === undefined) return undefined;
  const given = checks.object(path, value, { keys: keysOf(DEFAULT_OPTIONS.cacheControl) });
  if (given.private !== undefined) checks.boolean(`${path}.private`, given.private);
  if (given.sMaxAge !== undefined) checks.integer(`${path}.sMaxAge`, given.sMaxAge, 0);
  if (given.immutable !== undefined) checks.boolean(`${path}.immutable`, given.immutable);
  if (given.private === true) {
    const shared = [
      ...(given.sMaxAge !== undefined ? [`sMaxAge: ${String(given.sMaxAge)}`] : []),
      ...(given.immutable === true ? ['immutable: true'] : []),
    ];
    checks.assert(
      shared.length === 0,
      path,
      'private: true without sMaxAge or immutable: true, which are for public images that CDNs may keep',
      value,
      { got: `private: true with ${shared.join(' and ')}` },
    );
  }
  return { ...given } as CacheControlOptions;
}

function resolveEncoders(value: unknown): ResolvedImageResizeOptions['encoders'] {
  const defaults = DEFAULT_OPTIONS.encoders;
  const given: EncoderOptions =
    value === undefined ? {} : option.object('encoders', value, { keys: keysOf(defaults) });
  const quality = (format: 'jpeg' | 'webp' | 'avif') =>
    withDefault(given[format]?.quality, defaults[format].quality, (q) =>
      option.quality(`encoders.${format}.quality`, q),
    );
  return {
    jpeg: { quality: quality('jpeg') },
    webp: { quality: quality('webp') },
    avif: {
      quality: quality('avif'),
      effort: option.integer('encoders.avif.effort', given.avif?.effort ?? defaults.avif.effort, 0, 9),
    },
    png: { palette: option.boolean('encoders.png.palette', given.png?.palette ?? defaults.png.palette) },
  };
}

/** `{ keys: [...] }`, each key a string of 32 or more characters; keys are described, never quoted. */
function resolveSigning(value: unknown): ResolvedImageResizeOptions['signing'] {
  if (value === undefined) return undefined;
  const signing = option.object('signing', value, { expected: 'an object { keys: [...] }', secret: true });
  const keys = option.list('signing.keys', signing.keys, 'a non-empty array of keys, newest first', {
    nonEmpty: true,
    secret: true,
  });
  return {
    keys: option.each('signing.keys', keys, (at, key) => {
      option.assert(is.string(key) && key.length >= 32, at, 'a string of 32 or more characters', key, {
        secret: true,
      });
      return key as string;
    }),
  };
}

/**
 * The options that need more than {@link resolvePlain}: every option whose default is not a number
 * or a boolean must be here (the type says so), and any other may be.
 */
const RESOLVERS: { [K in Exclude<OptionKey, PlainOption>]: Resolver<K> } & {
  [K in PlainOption]?: Resolver<K>;
} = {
  redis: (value) => {
    checkRedisOption(value);
    return value as ResolvedImageResizeOptions['redis'];
  },
  hotCache: resolveHotCache,
  memory: (value) => {
    const defaults = DEFAULT_OPTIONS.memory;
    const memory =
      value === undefined ? {} : option.object('memory', value, { expected: objectWith(keysOf(defaults)) });
    return {
      maxBytes: withDefault(memory.maxBytes, defaults.maxBytes, (bytes) =>
        option.integer('memory.maxBytes', bytes, 1024),
      ),
    };
  },
  keyPrefix: (value) =>
    option.matching(
      'keyPrefix',
      value ?? DEFAULT_OPTIONS.keyPrefix,
      /^[\w.:-]{0,64}$/,
      'at most 64 characters of letters, digits, "_", ".", ":" or "-"',
    ),
  allowRedraw: (value) => {
    const allowRedraw = value ?? DEFAULT_OPTIONS.allowRedraw;
    option.assert(
      is.bool(allowRedraw) || is.fn(allowRedraw),
      'allowRedraw',
      'a boolean or a function (request) => boolean',
      allowRedraw,
    );
    return allowRedraw as ResolvedImageResizeOptions['allowRedraw'];
  },
  sources: resolveSources,
  revalidateAfter: (value) =>
    withDefault(value, DEFAULT_OPTIONS.revalidateAfter, (given) => {
      option.assert(
        given === false || (is.integer(given) && given >= 1),
        'revalidateAfter',
        'false or an integer >= 1 (seconds)',
        given,
      );
      return given as number | false;
    }),
  originMaxAge: (value) =>
    option.oneOf('originMaxAge', value ?? DEFAULT_OPTIONS.originMaxAge, ORIGIN_MAX_AGE),
  maxQueue: (value) =>
    withDefault(value, DEFAULT_OPTIONS.maxQueue, (given) => option.integer('maxQueue', given, 0)),
  shutdownDrainMs: (value) =>
    withDefault(value, DEFAULT_OPTIONS.shutdownDrainMs, (given) =>
      option.integer('shutdownDrainMs', given, 0),
    ),
  signing: resolveSigning,
  encoders: resolveEncoders,
  cacheControl: (value) => checkCacheControl(option, 'cacheControl', value) ?? {},
};

/** An option with a number for default is an integer >= 1; with a boolean, a boolean (`null` for the default). */
function resolvePlain(key: PlainOption, value: unknown): number | boolean {
  const fallback: number | boolean = DEFAULT_OPTIONS[key];
  return typeof fallback === 'number'
    ? withDefault(value, fallback, (given) => option.integer(key, given, 1))
    : option.boolean(key, value ?? fallback);
}

/** What no single option says: the options that exclude each other or must agree. */
function checkCombinations(given: ImageResizeModuleOptions, resolved: ResolvedImageResizeOptions): void {
  if (given.memory && given.redis !== undefined) {
    throw new ImageResizeConfigError(
      'options "memory" and "redis" exclude each other: "memory" configures the cache used without Redis',
    );
  }
  if (resolved.useCacheManager && (given.redis !== undefined || given.memory !== undefined)) {
    throw new ImageResizeConfigError(
      'option "useCacheManager" excludes "redis" and "memory": the images go to the CACHE_MANAGER of @nestjs/cache-manager',
    );
  }
  if (given.maxSourceBytesInFlight !== undefined) {
    option.assert(
      resolved.maxSourceBytesInFlight >= resolved.maxSourceBytes,
      'maxSourceBytesInFlight',
      `at least "maxSourceBytes" (${resolved.maxSourceBytes}), or no source of that size could ever load`,
      given.maxSourceBytesInFlight,
    );
  }
}

/**
 * Applies the defaults ({@link DEFAULT_OPTIONS}) to the module's options and validates them. Throws
 * an {@link ImageResizeConfigError} that names the offending option; nothing falls back silently.
 */
export function resolveImageResizeOptions(
  options: ImageResizeModuleOptions | undefined | null,
): ResolvedImageResizeOptions {
  const keys = keysOf(DEFAULT_OPTIONS);
  const given: ImageResizeModuleOptions = option.object('', options ?? {}, { keys });
  const resolved: Record<string, unknown> = {};
  for (const key of keys) {
    const resolve = RESOLVERS[key] as Resolver<OptionKey> | undefined;
    resolved[key] = resolve ? resolve(given[key], given) : resolvePlain(key as PlainOption, given[key]);
  }
  checkCombinations(given, resolved as unknown as ResolvedImageResizeOptions);
  return resolved as unknown as ResolvedImageResizeOptions;
}
