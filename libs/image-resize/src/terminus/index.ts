export { ImageResizeHealthIndicator, type ImageResizeHealthOptions } from './image-resize.health-indicator';
