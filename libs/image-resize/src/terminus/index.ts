export {
  ImageResizeHealthIndicator,
  type ImageResizeReadinessOptions,
} from './image-resize.health-indicator';
