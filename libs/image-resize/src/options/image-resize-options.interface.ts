import type { ConnectionOptions } from 'node:tls';

/** The request as the `allowRedraw` callback sees it (Express's request, or any object with `query`). */
export interface RedrawRequest {
  query?: Record<string, unknown>;
  headers?: Record<string, string | string[] | undefined>;
  [key: string]: unknown;
}

/**
 * Options of the ioredis client that the `redis` option creates (a subset of ioredis's
 * `RedisOptions`, written out here so that an application on the in-memory cache needs no ioredis,
 * not even its types). They are passed to ioredis as given.
 */
export interface RedisConnectionOptions {
  host?: string;
  port?: number;
  /** Unix socket path, instead of host and port. */
  path?: string;
  username?: string;
  password?: string;
  /** Database index. Default 0. */
  db?: number;
  /** TLS options (Node's `tls.connect` options); `{}` for TLS with the system's CAs. */
  tls?: ConnectionOptions;
  /** 4 or 6: the address family to connect with. */
  family?: number;
  /** Name given to the connection (`CLIENT SETNAME`). */
  connectionName?: string;
  /** Milliseconds to wait for a connection. Default here 5000. */
  connectTimeout?: number;
  /** Milliseconds a command may take before it fails (the image is then served uncached). Default here 1000. */
  commandTimeout?: number;
  /** Milliseconds of TCP keep-alive. */
  keepAlive?: number;
  /** Delay between reconnection attempts: milliseconds for attempt `times`, or `null` to stop. */
  retryStrategy?: (times: number) => number | void | null;
  /** Sentinel: the sentinels to ask for the master named `name`. */
  sentinels?: Array<{ host?: string; port?: number; family?: number }>;
  /** Sentinel: the master's name. */
  name?: string;
  /** Sentinel: which node to connect to. Default `master`. */
  role?: 'master' | 'slave';
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** Sentinel: TLS towards the sentinels too. */
  enableTLSForSentinelMode?: boolean;
  sentinelTLS?: ConnectionOptions;
  /** Sentinel: follow a failover as soon as the sentinels announce it. */
  failoverDetector?: boolean;
}

/** A seed node of a Redis Cluster: a port, `host:port`, or `{ host, port }`. */
export type RedisClusterNode = number | string | { host?: string; port?: number };

/** Options of the ioredis Cluster client (a subset of ioredis's `ClusterOptions`, passed as given). */
export interface RedisClusterOptions {
  /** Options of the connection to each node. */
  redisOptions?: RedisConnectionOptions;
  /** Where reads go: `master` (default), `slave` or `all`. */
  scaleReads?: 'master' | 'slave' | 'all';
  /** Addresses the nodes announce, mapped to where this process reaches them (`'10.0.0.1:6379' → { host, port }`). */
  natMap?: Record<string, { host: string; port: number }>;
  /** Milliseconds between refreshes of the slot map. */
  slotsRefreshInterval?: number;
  slotsRefreshTimeout?: number;
  /** Delay before reconnecting to the cluster: milliseconds for attempt `times`, or `null` to stop. */
  clusterRetryStrategy?: (times: number) => number | void | null;
  /** Resolve the seed nodes through DNS SRV records. */
  useSRVRecords?: boolean;
  maxRedirections?: number;
  retryDelayOnFailover?: number;
  retryDelayOnClusterDown?: number;
  retryDelayOnTryAgain?: number;
  retryDelayOnMoved?: number;
}

/** Redis Cluster configuration: the seed nodes and ioredis cluster options. */
export interface RedisClusterConfig {
  cluster: RedisClusterNode[];
  options?: RedisClusterOptions;
}

/**
 * Which remote sources may be fetched. The defaults are safe for URLs that users typed in: any host,
 * but only on public addresses, over http(s), with few redirects.
 */
export interface ImageSourcesOptions {
  /**
   * Hosts that may be fetched: exact names (`cdn.example.com`) or `*.example.com` for every subdomain
   * of example.com. Absent: any host on a public address.
   */
  allowedHosts?: string[];
  /**
   * Private, loopback, link-local and other non-public addresses. `false` (default): refused for every
   * host; `true`: allowed for every allowed host; a list: allowed only for these hosts (e.g. your own
   * origin, `['127.0.0.1']`). Checked on the address actually connected to, on every redirect.
   */
  allowPrivateNetworks?: boolean | string[];
  /** Redirects followed; each must pass the same checks. Default 3. */
  maxRedirects?: number;
  /**
   * Folder that `path` sources must lie in. When set, a path that resolves outside it (symbolic links
   * followed) is refused with 403. Absent: any path the process can read (paths are the application's,
   * never a client's).
   */
  fileRoot?: string;
}

/**
 * What the `Cache-Control` of an image says besides `max-age=<ttl>`: `public` (the default), or
 * `private`, and for public images the extra directives for CDNs.
 */
export interface CacheControlOptions {
  /**
   * `private, max-age=<ttl>` instead of `public, ...`: only the user's browser may keep the image,
   * never a CDN or a shared proxy. For images one user may see and another may not (behind a guard,
   * per account); their cacheKey must then name what makes them per-user. Excludes `sMaxAge` and
   * `immutable: true`. Default false.
   */
  private?: boolean;
  /** `s-maxage`: seconds shared caches (CDNs) may keep the image. Public images only. */
  sMaxAge?: number;
  /** `immutable`: the bytes behind this URL never change. Public images only. */
  immutable?: boolean;
}

/** Encoder settings, per output format. */
export interface EncoderOptions {
  jpeg?: { quality?: number };
  webp?: { quality?: number };
  avif?: { quality?: number; effort?: number };
  png?: { palette?: boolean };
}

/** {@link EncoderOptions} with every default applied. */
export interface ResolvedEncoderOptions {
  jpeg: { quality: number };
  webp: { quality: number };
  avif: { quality: number; effort: number };
  png: { palette: boolean };
}

/**
 * Options of {@link ImageResizeModule.forRoot} / `forRootAsync`. Every field is optional. An option
 * added here gets its default in `DEFAULT_OPTIONS` (options/image-resize.defaults.ts), which does
 * not compile without it.
 */
export interface ImageResizeModuleOptions {
  /**
   * Redis to cache in: a URL (`redis://host:6379/0`), ioredis options, or `{ cluster: nodes, options? }`.
   * Needs the package `ioredis`. Absent: a bounded in-memory LRU cache inside the process.
   */
  redis?: string | RedisConnectionOptions | RedisClusterConfig;
  /**
   * With `redis`: fail the boot with an `ImageResizeConfigError` when Redis cannot be used, rather than
   * serve every image uncached. Whatever this option, boot waits for the first connection (at most 3 s)
   * and checks, with one command of each kind on a throwaway key under `keyPrefix` (and on the channel
   * `<keyPrefix>invalidate` when `hotCache` is on), that the ACL lets the user do all the cache does.
   * A problem is logged once with its kind, shown by `ImageResizeService.health()` (`cacheProblem`)
   * while it lasts, and with `requireCache: true` it stops the boot, the error naming the kind and what
   * to fix: `auth` (wrong or missing password), `tls` (TLS on one side only, a certificate not trusted),
   * `permission` (the commands, keys or channel the ACL refuses), `network` (Redis cannot be reached:
   * one that is not running yet counts too: with this option, boot waits for it as long as the
   * connection's `connectTimeout`, 5 s by default, plus half a second), `unknown` (anything else, such
   * as a Redis older than 7.0).
   * Only the boot is concerned: Redis failing later never stops the application. Without `redis`
   * (the in-memory cache, `useCacheManager`, or a `cache` of your own) it does nothing, so one
   * configuration may set it in every environment. Default false.
   */
  requireCache?: boolean;
  /**
   * Keep images in the `CACHE_MANAGER` that the application registers with `CacheModule` from
   * `@nestjs/cache-manager` (any Keyv store) instead of the built-in cache. The `CacheModule` must be
   * global (`isGlobal: true`) or listed in `forRootAsync`'s `imports`. Excludes `redis` and `memory`.
   * Default false. The built-in `redis` cache is binary-safe and faster; prefer it for Redis.
   */
  useCacheManager?: boolean;
  /**
   * With `redis`: an in-process tier in front of Redis for the images this process served last, so
   * that a hit on them costs no Redis round trip. An LRU bounded by bytes (`maxBytes`, default 16 MiB);
   * a copy is kept no longer than its Redis entry's TTL and no longer than `maxAgeMs` (default 60000).
   * Purges and re-made images reach every instance through Redis pub/sub (channel
   * `<keyPrefix>invalidate`); the tier is emptied and unused while its subscription is down, and
   * `maxAgeMs` bounds staleness when an announcement is lost. `false` turns it off. Only with `redis`
   * (an object without `redis` is a configuration error).
   *
   * While Redis is unavailable (not connected, or failing commands), the images this process makes are
   * kept in an outage tier besides (up to a quarter of `maxBytes`) for `outageMaxAgeMs` (default 30000,
   * never longer than their `ttl`), and answered from there (`X-Cache: BYPASS`, with a `max-age` no
   * longer than they have left there) instead of being fetched and resized again. A purge drops its
   * cacheKey's copies at once, and they are all dropped as soon as Redis answers again. `0` turns the
   * outage tier off.
   */
  hotCache?: false | { maxBytes?: number; maxAgeMs?: number; outageMaxAgeMs?: number };
  /** The in-memory cache used when neither `redis` nor `useCacheManager` is set. */
  memory?: {
    /** Upper bound on the bytes the in-memory cache holds (least recently used go first). Default 64 MiB. */
    maxBytes?: number;
  };
  /** Seconds a resized image is cached, and `max-age` sent to clients. Default 2592000 (30 days). */
  ttl?: number;
  /**
   * Seconds after which the original of cached images (a URL, or a `path` source with a cacheKey) is
   * due for a check with its origin. A request past it is answered from the cache at once, while one
   * conditional request (`If-None-Match` / `If-Modified-Since`; a file's size and mtime) — one per
   * original for all its variants and every instance sharing the cache — asks whether it changed:
   * unchanged, every variant is fresh again; changed, they are purged and remade; gone (404, 410),
   * purged; failing, served as they are until a later check. `max-age` is at most the time left until
   * the next check. `false`: originals are never checked (images live their `ttl`). A route may set
   * its own. Needs a cache with origin records (memory, Redis, cache-manager). Default 86400 (a day).
   */
  revalidateAfter?: number | false;
  /**
   * Whether an origin's `Cache-Control: max-age` (or `no-cache`, 0) longer than `revalidateAfter`
   * puts the check off: `'ignore'` (default: `revalidateAfter` alone decides) or `'longer-wins'`
   * (the original is checked after the longer of the two). A route may set its own.
   */
  originMaxAge?: 'ignore' | 'longer-wins';
  /** Prefix of every cache key. Default `image_resize_`. */
  keyPrefix?: string;
  /**
   * Whether `?redraw` on a request may bypass the cache: `true`, `false` (default), or a function of
   * the request (e.g. only for admins). When not allowed, `?redraw` is ignored.
   */
  allowRedraw?: boolean | ((request: RedrawRequest) => boolean);
  /** Most bytes read from a source (URL, stream, file). Default 20 MiB. */
  maxSourceBytes?: number;
  /**
   * Most source bytes being downloaded or held for resizing at once, in this process. A source that
   * does not fit gets 503 with `Retry-After` before its body is read. Default 64 MiB.
   */
  maxSourceBytesInFlight?: number;
  /** Milliseconds allowed for loading a source (a URL with its body, a stream, a file). Default 10000. */
  fetchTimeoutMs?: number;
  /** Which remote sources may be fetched: host allowlist, private networks, redirects. */
  sources?: ImageSourcesOptions;
  /** Most pixels (width x height) of an original, checked from its header before decoding. Default 40 MP. */
  maxInputPixels?: number;
  /**
   * Most bytes an original may take once decoded (width x height x frames x channels x bytes per
   * sample: a 16-bit or 10-bit original counts twice), checked from its header before decoding.
   * Default 160 MB (a 40 MP image at 8-bit RGBA).
   */
  maxDecodedBytes?: number;
  /** Most scans a JPEG original may have (progressive JPEGs from cameras and encoders have about 10). Default 100. */
  maxJpegScans?: number;
  /** Most frames (pages) an original may have. Default 1000. */
  maxAnimationFrames?: number;
  /** Milliseconds allowed for decoding, resizing and encoding one image. Default 10000. */
  processingTimeoutMs?: number;
  /** Resizes at a time in this process. Default: the number of CPUs. */
  concurrency?: number;
  /** Resizes that may wait for a slot; past it, 503 with `Retry-After`. Default 100. */
  maxQueue?: number;
  /** Accept SVG originals (rasterised, never passed through, no external resources). Default false. */
  allowSvg?: boolean;
  /**
   * The images' `Cache-Control`: `private: true` for images that only their user's browser may keep
   * (`private, max-age=<ttl>`); for public ones, extra directives for shared caches (CDNs): `sMaxAge`
   * (seconds a CDN may keep an image, e.g. longer than browsers) and `immutable` (for URLs that change
   * whenever the image does, such as versioned cacheKeys). Default: `public, max-age=<ttl>` only. A
   * route may set its own, and a `Cache-Control` the route sets with `@Header()` is kept as it is.
   */
  cacheControl?: CacheControlOptions;
  /**
   * Encoder settings for every route (a route's own `quality` or `palette` wins). Default: JPEG and
   * WebP quality 80, AVIF quality 50 at effort 3 (0-9, slower is smaller), PNG without a palette.
   */
  encoders?: EncoderOptions;
  /**
   * Keys for HMAC-signed URLs, needed by routes with `signed: true` (sizes and formats taken from the
   * query). The first key signs; all keys verify (rotation). Each at least 32 characters.
   */
  signing?: { keys: string[] };
  /** Largest output width a spec may ask for. Default 4096. */
  maxOutputWidth?: number;
  /** Largest output height a spec may ask for. Default 4096. */
  maxOutputHeight?: number;
  /**
   * Milliseconds a shutdown (`app.close()`, or a signal with `app.enableShutdownHooks()`) waits for the
   * misses this instance is making to be made and stored, before the HTTP server, the image workers
   * and the Redis connection close. Past it the shutdown goes on: the misses left are logged, their
   * locks released (another instance makes those images), and they may fail uncached. 0: no wait.
   * Default 10000.
   */
  shutdownDrainMs?: number;
}

/** {@link ImageResizeModuleOptions} with every default applied; inject it with `IMAGE_RESIZE_OPTIONS`. */
export interface ResolvedImageResizeOptions {
  redis?: string | RedisConnectionOptions | RedisClusterConfig;
  requireCache: boolean;
  useCacheManager: boolean;
  /** The hot tier in front of Redis, or `false` (always `false` without `redis`). */
  hotCache: false | { maxBytes: number; maxAgeMs: number; outageMaxAgeMs: number };
  memory: { maxBytes: number };
  ttl: number;
  revalidateAfter: number | false;
  originMaxAge: 'ignore' | 'longer-wins';
  keyPrefix: string;
  allowRedraw: boolean | ((request: RedrawRequest) => boolean);
  maxSourceBytes: number;
  maxSourceBytesInFlight: number;
  fetchTimeoutMs: number;
  sources: {
    allowedHosts?: string[];
    allowPrivateNetworks: boolean | string[];
    maxRedirects: number;
    /** Absolute, without symbolic links. */
    fileRoot?: string;
  };
  maxInputPixels: number;
  maxDecodedBytes: number;
  maxJpegScans: number;
  maxAnimationFrames: number;
  processingTimeoutMs: number;
  concurrency: number;
  maxQueue: number;
  allowSvg: boolean;
  maxOutputWidth: number;
  maxOutputHeight: number;
  shutdownDrainMs: number;
  signing?: { keys: string[] };
  encoders: ResolvedEncoderOptions;
  cacheControl: CacheControlOptions;
}
