import { availableParallelism } from 'node:os';
import type {
  CacheControlOptions,
  EncoderOptions,
  ImageResizeModuleOptions,
  ImageSourcesOptions,
} from './image-resize-options.interface';

/** Every key of `T`, none left out; `undefined` where there is no default. */
type Every<T> = { readonly [K in keyof Required<T>]: T[K] | undefined };

/** The options that are objects: each of their keys has its entry too. */
interface NestedDefaults {
  hotCache: Every<Exclude<ImageResizeModuleOptions['hotCache'], false | undefined>>;
  memory: Every<NonNullable<ImageResizeModuleOptions['memory']>>;
  sources: Every<ImageSourcesOptions>;
  encoders: { readonly [F in keyof Required<EncoderOptions>]: Every<NonNullable<EncoderOptions[F]>> };
  cacheControl: Every<CacheControlOptions>;
}

/**
 * The shape of {@link DEFAULT_OPTIONS}: one entry per option of {@link ImageResizeModuleOptions}, so
 * that an option added to the interface and not to the table (or the reverse) does not compile.
 */
export type ImageResizeDefaults = {
  readonly [K in keyof Required<ImageResizeModuleOptions>]: K extends keyof NestedDefaults
    ? NestedDefaults[K]
    : ImageResizeModuleOptions[K] | undefined;
};

/**
 * Every option of `ImageResizeModule.forRoot` with its default (`undefined`: none). Its keys are the
 * options the module knows (any other is refused at boot); `resolveImageResizeOptions` applies it.
 * An option whose default is a number is checked as an integer >= 1, one whose default is a boolean
 * as a boolean, unless `resolveImageResizeOptions` has a check of its own for it.
 */
export const DEFAULT_OPTIONS = {
  redis: undefined,
  /** Redis that cannot be used at boot is logged, and images are served uncached meanwhile. */
  requireCache: false,
  useCacheManager: false,
  /**
   * With `redis`: 16 MiB; a hot copy is read from Redis again after a minute at the latest; what is
   * made while Redis is unavailable is answered again for 30 s.
   */
  hotCache: { maxBytes: 16 * 1024 * 1024, maxAgeMs: 60_000, outageMaxAgeMs: 30_000 },
  /** 64 MiB. */
  memory: { maxBytes: 64 * 1024 * 1024 },
  /** 30 days, as in the original recipe. */
  ttl: 30 * 24 * 3600,
  /** A day: a replaced original is seen within a day, at the cost of one conditional request a day. */
  revalidateAfter: 24 * 3600,
  /** `revalidateAfter` alone decides: an origin's year-long max-age would hide a replaced logo. */
  originMaxAge: 'ignore',
  keyPrefix: 'image_resize_',
  allowRedraw: false,
  /** 20 MiB. */
  maxSourceBytes: 20 * 1024 * 1024,
  /** 64 MiB of sources downloaded or held at once. */
  maxSourceBytesInFlight: 64 * 1024 * 1024,
  /** 10 s for the whole fetch. */
  fetchTimeoutMs: 10_000,
  sources: { allowedHosts: undefined, allowPrivateNetworks: false, maxRedirects: 3, fileRoot: undefined },
  /** 40 megapixels. */
  maxInputPixels: 40_000_000,
  /** A 40 MP image at 8-bit RGBA. */
  maxDecodedBytes: 160_000_000,
  /** Far above what cameras and encoders write (about 10 for a progressive JPEG). */
  maxJpegScans: 100,
  maxAnimationFrames: 1000,
  /** 10 s. */
  processingTimeoutMs: 10_000,
  /** The number of CPUs. */
  concurrency: availableParallelism(),
  /** Resizes that may wait for a slot before requests get 503. */
  maxQueue: 100,
  allowSvg: false,
  signing: undefined,
  /**
   * JPEG q80 with mozjpeg, WebP q80, AVIF q50 at effort 3, PNG lossless without a palette. The
   * README's "Encoder defaults" says why.
   */
  encoders: {
    jpeg: { quality: 80 },
    webp: { quality: 80 },
    avif: { quality: 50, effort: 3 },
    png: { palette: false },
  },
  /** Nothing but `public, max-age=<ttl>`. */
  cacheControl: { private: false, sMaxAge: undefined, immutable: undefined },
  maxOutputWidth: 4096,
  maxOutputHeight: 4096,
  /** 10 s: misses take far less; with a 5 s pre-stop delay, within Kubernetes's default 30 s grace period. */
  shutdownDrainMs: 10_000,
} as const satisfies ImageResizeDefaults;

/** The keys of an entry of the table, in its order (which is the order messages list them in). */
export function keysOf<T extends object>(entry: T): Array<keyof T & string> {
  return Object.keys(entry) as Array<keyof T & string>;
}
