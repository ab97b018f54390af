import type { ImageSource } from '../sources/image-source.interface';
import type { ImageAttributes, ImageChoice } from './image-attributes';
import { blurredPlaceholderSvg } from './placeholder';
import type { Placeholder } from './placeholder.work';

/** What `ImageResizeService.imgAttributes` takes besides the route and its parameters. */
export interface ImgAttributesOptions {
  /** The `sizes` attribute (e.g. `'(max-width: 600px) 50vw, 256px'`); it asks for width descriptors. */
  sizes?: string;
  /** Which of the route's images is the `src` (the 1x one); by default the route's own size. */
  choose?: ImageChoice;
  /**
   * `'w'`: width descriptors (`320w`), for an image whose width depends on the layout (give `sizes`);
   * `'x'`: density descriptors (`1x, 2x`) for a fixed box. Default: `'w'` with `sizes`, else `'x'`.
   */
  descriptors?: 'w' | 'x';
  /** On a `signed` route, the widths offered with `'w'` descriptors. Default: the route's `widths`, else 320 to 2560. */
  widths?: readonly number[];
  /** The densities offered with `'x'` descriptors (1 is always there). Default `[1, 2]`. */
  densities?: readonly number[];
  /**
   * The original, as the route's handler returns it for these parameters. With it, `width` and
   * `height` follow the original's aspect ratio (a logo is not shown larger than it is), and the
   * placeholder comes along; both from the cache, made once per original.
   */
  source?: ImageSource;
  /** Without it, no placeholder (only the size is read from it). Default true (with `source`). */
  placeholder?: boolean;
  /** On a `signed: true` route: the URLs expire this many seconds from now. Default: they do not. */
  expiresIn?: number;
}

/** The attributes of an `<img>` for a `@ResizedImage()` route, not yet HTML-escaped. */
export interface ImgAttributes extends ImageAttributes {
  /**
   * With a placeholder: the CSS that paints its blurred preview behind the image, in the image's own
   * box, until the image covers it (remove it on `load` for an image with transparency).
   */
  style?: string;
  /** The original's placeholder, when `source` was given. */
  placeholder?: Placeholder;
}

/**
 * The CSS that shows a placeholder in the `<img>`'s box as its background: the preview, blurred by
 * an SVG filter (its blur scales with the box), stretched over the box, on nothing else.
 */
export function placeholderStyle(placeholder: Pick<Placeholder, 'dataUrl' | 'width' | 'height'>): string {
  return `background-image:url("${blurredPlaceholderSvg(placeholder)}");background-size:100% 100%;background-repeat:no-repeat`;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * The attributes as HTML, each escaped and double-quoted: `src="..." srcset="..." sizes="..."
 * width="128" height="80" style="..."` (the ones there are, in that order). Add `alt` and the rest in
 * the template: `<img ${renderImgAttributes(logo)} alt="Acme logo">`.
 */
export function renderImgAttributes(attributes: ImgAttributes): string {
  const names = ['src', 'srcset', 'sizes', 'width', 'height', 'style'] as const;
  return names
    .filter((name) => attributes[name] !== undefined)
    .map((name) => `${name}="${String(attributes[name]).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c])}"`)
    .join(' ');
}
