export { ImageResizePrometheusExporter } from './image-resize.prometheus-exporter';
