export { ImageResizeModule } from './image-resize.module';
export type {
  ImageResizeModuleAsyncOptions,
  ImageResizeModuleExtras,
  ImageResizeModuleRootOptions,
} from './image-resize.module-definition';
export { IMAGE_RESIZE_MODULE_OPTIONS } from './image-resize.module-definition';
export { ImageResizeService, type ImageResizeHealth } from './image-resize.service';
export { ImageResizeMetrics, type ImageResizeEvent, type ImageResizeListener } from './image-resize.metrics';
export {
  ResizedImage,
  type ResizedImageOptions,
  type ResizePreset,
} from './decorators/resized-image.decorator';
export {
  UrlSigner,
  SIGNATURE_PARAM,
  EXPIRY_PARAM,
  type SignUrlOptions,
  type UrlSignerOptions,
} from './signing/url-signer';
export { negotiateImageFormat } from './spec/format.negotiation';
export { resolveResizeSpec } from './spec/resize-spec.resolver';
export { specFromRequest } from './http/request-spec.resolver';
export { ResizedImageResponder, ResizedImageCall, cacheControlHeader } from './http/resized-image.responder';
export type { ImageExchange } from './http/image-exchange';
export { resolveImageResizeOptions } from './options/image-resize.options';
export {
  CACHE_MANAGER_TOKEN,
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_RESIZE_REDIS,
  IMAGE_SOURCE_LOADER,
  RESIZED_IMAGE_METADATA,
  DEFAULT_KEY_PREFIX,
  DEFAULT_TTL_SECONDS,
  DEFAULT_MEMORY_MAX_BYTES,
  DEFAULT_HOT_CACHE_MAX_BYTES,
  DEFAULT_HOT_CACHE_MAX_AGE_MS,
  DEFAULT_MAX_SOURCE_BYTES,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_INPUT_PIXELS,
  DEFAULT_MAX_ANIMATION_FRAMES,
  DEFAULT_PROCESSING_TIMEOUT_MS,
  DEFAULT_MAX_OUTPUT_DIMENSION,
  DEFAULT_ENCODERS,
  DEFAULT_MAX_QUEUE,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
} from './image-resize.constants';
export {
  ImageResizeError,
  ImageResizeConfigError,
  InvalidResizeSpecError,
  ImageNotFoundError,
  SourceNotAllowedError,
  InvalidImageError,
  SourceTooLargeError,
  UpstreamError,
  UpstreamTimeoutError,
  ProcessingTimeoutError,
  InvalidSignatureError,
  OverloadedError,
  CacheUnavailableError,
  type ImageResizeErrorOptions,
} from './errors/image-resize.errors';
export {
  SourceAddressPolicy,
  isPublicAddress,
  type SourcePolicyOptions,
} from './sources/source-address.policy';
export { MemoryImageCache } from './cache/memory-image.cache';
export { CacheManagerImageCache, type CacheManagerLike } from './cache/cache-manager-image.cache';
export { encodeCachedImage, decodeCachedImage } from './cache/cached-image.codec';
export { SharpImageProcessor } from './processors/sharp-image.processor';
export { ResizeQueue } from './processors/resize.queue';
export { DefaultImageSourceLoader } from './sources/default-image-source.loader';
export { HttpImageFetcher, type HttpFetchLimits } from './sources/http-image.fetcher';
export type {
  ImageResizeModuleOptions,
  ImageSourcesOptions,
  CacheControlOptions,
  EncoderOptions,
  ResolvedEncoderOptions,
  ResolvedImageResizeOptions,
  RedisClusterConfig,
  RedisClusterNode,
  RedisClusterOptions,
  RedisConnectionOptions,
  RedrawRequest,
} from './options/image-resize-options.interface';
export type {
  ResizeSpec,
  ResolvedResizeSpec,
  OutputFormat,
  FitMode,
  CropPosition,
} from './spec/resize-spec.interface';
export type { ImageSource, ImageSourceDescriptor, LoadedSource } from './sources/image-source.interface';
export type { ResizedImageResult, CacheStatus } from './resized-image.result';
export type { ImageCache, CachedImage, ImageCacheKey } from './cache/image-cache.interface';
export type { ImageProcessor, ProcessedImage } from './processors/image-processor.interface';
export type {
  ImageSourceLoader,
  SourceBytesReservation,
  SourceLoadContext,
} from './sources/image-source-loader.interface';
