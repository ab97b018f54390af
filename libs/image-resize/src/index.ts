// The package's public API. Every name exported here is a semver promise: keep this list short, and
// update the API report (`npm run api:update`) and docs/API.md with it. Internals (the default stages,
// the cache codec, the queue, the HTTP responder, the defaults...) are imported by relative path, and
// only from inside this repository (the library, its tests, bench and scripts).

// The module and its registration options
export { ImageResizeModule } from './image-resize.module';
export type {
  ImageResizeExtension,
  ImageResizeModuleAsyncOptions,
  ImageResizeModuleExtras,
  ImageResizeModuleRootOptions,
} from './image-resize.module-definition';

// The service
export { ImageResizeService, type ImageResizeHealth } from './image-resize.service';
export type { SignUrlOptions } from './signing/url-signer';

// The decorator
export {
  ResizedImage,
  type ResizedImageOptions,
  type ResizePreset,
} from './decorators/resized-image.decorator';

// Metrics
export { ImageResizeMetrics, type ImageResizeEvent, type ImageResizeListener } from './image-resize.metrics';

// Options
export type {
  ImageResizeModuleOptions,
  ImageSourcesOptions,
  CacheControlOptions,
  EncoderOptions,
  RedisConnectionOptions,
  RedisClusterConfig,
  RedisClusterNode,
  RedisClusterOptions,
  RedrawRequest,
  // What IMAGE_RESIZE_OPTIONS holds: the options with every default applied (for a stage of your own).
  ResolvedImageResizeOptions,
  ResolvedEncoderOptions,
} from './options/image-resize-options.interface';

// Specs, sources and results
export type {
  ResizeSpec,
  ResolvedResizeSpec,
  OutputFormat,
  FitMode,
  CropPosition,
} from './spec/resize-spec.interface';
export type {
  ImageSource,
  ImageSourceDescriptor,
  LoadedSource,
  SourceValidators,
} from './sources/image-source.interface';
export type { ResizedImageResult, CacheStatus } from './resized-image.result';

// Errors
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

// Images for the page: <img> attributes of a route, placeholders of originals.
export {
  type ImgAttributes,
  type ImgAttributesOptions,
  placeholderStyle,
  renderImgAttributes,
} from './page/img-attributes';
export { type ImageAttributes, type ImageChoice, ImageAttributesError } from './page/image-attributes';
export type { Placeholder as ImagePlaceholder } from './page/placeholder.work';
export type { ResizedImageRoute } from './page/resized-image.routes';
export { type RouteParamValue, RoutePathError } from './page/route-path';

// Extension points: the tokens of the stages an application may replace, and their interfaces.
// RESIZED_IMAGE_METADATA: an app-wide interceptor that answers without calling the handler must skip
// decorated routes by it (README, Troubleshooting).
export {
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_SOURCE_LOADER,
  RESIZED_IMAGE_METADATA,
} from './image-resize.constants';
export type {
  ImageCache,
  CachedImage,
  ImageCacheKey,
  ImageCacheState,
  CacheProblemKind,
  OriginRecord,
} from './cache/image-cache.interface';
export type { ImageProcessor, ProcessedImage } from './processors/image-processor.interface';
export type {
  ImageSourceLoader,
  SourceBytesReservation,
  SourceLoadContext,
} from './sources/image-source-loader.interface';
