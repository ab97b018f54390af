export { ImageResizeTestingModule, findImageResizeModule } from './image-resize-testing.module';
export type { ImageFixture, ImageFixtures, ImageResizeTestingOptions } from './image-resize-testing.options';
export { ImageResizeRecorder, type RecordedResize } from './image-resize.recorder';
