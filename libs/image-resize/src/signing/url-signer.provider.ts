import type { Provider } from '@nestjs/common';
import { IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { UrlSigner } from './url-signer';

/** The module's {@link UrlSigner}, or `null` when the module has no `signing` option. */
export const URL_SIGNER = Symbol('nestjs-image-resize:url-signer');

export const urlSignerProvider: Provider = {
  provide: URL_SIGNER,
  useFactory: (options: ResolvedImageResizeOptions) =>
    options.signing ? new UrlSigner(options.signing.keys) : null,
  inject: [IMAGE_RESIZE_OPTIONS],
};
