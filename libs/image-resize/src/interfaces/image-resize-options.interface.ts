import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';

/** The request as the `allowRedraw` callback sees it (Express's request, or any object with `query`). */
export interface RedrawRequest {
  query?: Record<string, unknown>;
  headers?: Record<string, string | string[] | undefined>;
  [key: string]: unknown;
}

/** Redis Cluster configuration: the seed nodes and ioredis cluster options. */
export interface RedisClusterConfig {
  cluster: ClusterNode[];
  options?: ClusterOptions;
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
}

/** Extra `Cache-Control` directives. */
export interface CacheControlOptions {
  /** `s-maxage`: seconds shared caches (CDNs) may keep the image. */
  sMaxAge?: number;
  /** `immutable`: the bytes behind this URL never change. */
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

/** Options of {@link ImageResizeModule.forRoot} / `forRootAsync`. Every field is optional. */
export interface ImageResizeModuleOptions {
  /**
   * Redis to cache in: a URL (`redis://host:6379/0`), ioredis options, or `{ cluster: nodes, options? }`.
   * Absent: a bounded in-memory LRU cache inside the process.
   */
  redis?: string | RedisOptions | RedisClusterConfig;
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
   */
  hotCache?: false | { maxBytes?: number; maxAgeMs?: number };
  /** The in-memory cache used when neither `redis` nor `useCacheManager` is set. */
  memory?: {
    /** Upper bound on the bytes the in-memory cache holds (least recently used go first). Default 64 MiB. */
    maxBytes?: number;
  };
  /** Seconds a resized image is cached, and `max-age` sent to clients. Default 2592000 (30 days). */
  ttl?: number;
  /** Prefix of every cache key. Default `image_resize_`. */
  keyPrefix?: string;
  /**
   * Whether `?redraw` on a request may bypass the cache: `true`, `false` (default), or a function of
   * the request (e.g. only for admins). When not allowed, `?redraw` is ignored.
   */
  allowRedraw?: boolean | ((request: RedrawRequest) => boolean);
  /** Most bytes read from a source (URL, stream, file). Default 20 MiB. */
  maxSourceBytes?: number;
  /** Milliseconds allowed for fetching a URL source, body included. Default 10000. */
  fetchTimeoutMs?: number;
  /** Which remote sources may be fetched: host allowlist, private networks, redirects. */
  sources?: ImageSourcesOptions;
  /** Most pixels (width x height) of an original, checked from its header before decoding. Default 40 MP. */
  maxInputPixels?: number;
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
   * Extra `Cache-Control` directives for shared caches (CDNs): `sMaxAge` (seconds a CDN may keep an
   * image, e.g. longer than browsers) and `immutable` (for URLs that change whenever the image does,
   * such as versioned cacheKeys). Default: `public, max-age=<ttl>` only. A route may set its own.
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
}

/** {@link ImageResizeModuleOptions} with every default applied; inject it with `IMAGE_RESIZE_OPTIONS`. */
export interface ResolvedImageResizeOptions {
  redis?: string | RedisOptions | RedisClusterConfig;
  useCacheManager: boolean;
  /** The hot tier in front of Redis, or `false` (always `false` without `redis`). */
  hotCache: false | { maxBytes: number; maxAgeMs: number };
  memory: { maxBytes: number };
  ttl: number;
  keyPrefix: string;
  allowRedraw: boolean | ((request: RedrawRequest) => boolean);
  maxSourceBytes: number;
  fetchTimeoutMs: number;
  sources: { allowedHosts?: string[]; allowPrivateNetworks: boolean | string[]; maxRedirects: number };
  maxInputPixels: number;
  maxAnimationFrames: number;
  processingTimeoutMs: number;
  concurrency: number;
  maxQueue: number;
  allowSvg: boolean;
  maxOutputWidth: number;
  maxOutputHeight: number;
  signing?: { keys: string[] };
  encoders: ResolvedEncoderOptions;
  cacheControl: CacheControlOptions;
}

/** Extra options of `forRoot`/`forRootAsync` that change the module graph rather than the behaviour. */
export interface ImageResizeModuleExtras {
  /** Register the module globally, so that every module can use the service and the decorator. Default false. */
  isGlobal?: boolean;
}
