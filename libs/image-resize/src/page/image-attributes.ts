import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { InvalidResizeSpecError } from '../errors/image-resize.errors';
import { specFromRequest } from '../http/request-spec.resolver';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { FitMode, OutputFormat, ResizeSpec, ResolvedResizeSpec } from '../spec/resize-spec.interface';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';

/** Thrown when the attributes asked for cannot be made from what the route offers. */
export class ImageAttributesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageAttributesError';
  }
}

/**
 * Signs a URL of a `signed: true` route: `path` (as the browser will request it, percent-encoded) with
 * `params` as its query. `ImageResizeService.signUrl` with the caller's expiry fits:
 * `(path, params) => images.signUrl(path, params, { expiresIn: 3600 })`.
 */
export type ImageUrlSigner = (path: string, params: Record<string, string | number>) => string;

/** The module options the attributes are checked against: the limits, as `resolveResizeSpec` reads them. */
export type ImageAttributesLimits = Pick<
  ResolvedImageResizeOptions,
  'maxOutputWidth' | 'maxOutputHeight' | 'ttl' | 'encoders'
>;

/**
 * Which of the route's images is the `src` (the 1x one): by default the route's own size. On a route
 * without `signed`, what is chosen must be one the route offers (its own size, a preset, a width from
 * `widths`); on a `signed` route, any size and format within the module's limits.
 */
export interface ImageChoice {
  /** A preset of the route (not on a `signed` route: it ignores `?preset`). */
  preset?: string;
  /** Width of the box, in CSS pixels. */
  width?: number;
  /** Height of the box, in CSS pixels. */
  height?: number;
  format?: OutputFormat | 'auto';
  /** Only on a `signed` route (elsewhere: the preset that has it). */
  fit?: FitMode;
  /** Only on a `signed` route (elsewhere: the preset that has it). */
  quality?: number;
}

/** What {@link imageAttributes} needs besides the route and its path. */
export interface ImageAttributesOptions {
  /** The module's resolved options (or the limits of them): no URL beyond them is made. */
  limits: ImageAttributesLimits;
  /**
   * The original's width and height, as displayed (EXIF orientation applied). With them the
   * descriptors and `width`/`height` are those of the images the route will send (an image is never
   * enlarged past its original with `fit: 'inside'`); without them, those of the boxes, and no
   * `width`/`height` where the fit makes them depend on the original.
   */
  intrinsic?: { width: number; height: number };
  /** The `sizes` attribute; it asks for width descriptors. */
  sizes?: string;
  /** The image that is the `src`; by default the route's own size. */
  choose?: ImageChoice;
  /** Required for a `signed: true` route: every URL is made with it. */
  signer?: ImageUrlSigner;
  /**
   * `'w'`: a width descriptor per width (`320w`), for an image whose displayed width depends on the
   * layout (give `sizes` with it); `'x'`: density descriptors (`1x, 2x`) for a fixed box. Default:
   * `'w'` when `sizes` is given, `'x'` otherwise.
   */
  descriptors?: 'w' | 'x';
  /**
   * On a `signed` route, the widths to offer with `'w'` descriptors (CSS pixels; heights follow the
   * chosen box's aspect ratio). Default: the route's `widths`, else {@link DEFAULT_SIGNED_WIDTHS}.
   */
  widths?: readonly number[];
  /**
   * The densities to offer with `'x'` descriptors (1 is always there). A route without `signed` only
   * gets those for which it offers the box exactly that much larger (a preset or one of its widths);
   * a `signed` route gets each, as `?dpr=`. Default `[1, 2]`.
   */
  densities?: readonly number[];
}

/** Attributes of an `<img>`, to be HTML-escaped by the page that writes them. */
export interface ImageAttributes {
  src: string;
  /** Absent when there is no other image than `src` to offer. */
  srcset?: string;
  /** The `sizes` that was given, with `'w'` descriptors only. */
  sizes?: string;
  /**
   * The size at which `src` is displayed: the image the route sends for it, or its box when the route
   * always fills the box (`cover`, `contain`, `fill`). Absent when that depends on an original whose
   * size was not given.
   */
  width?: number;
  height?: number;
}

/** The widths a `signed` route offers with `'w'` descriptors when none are given. */
export const DEFAULT_SIGNED_WIDTHS: readonly number[] = [320, 640, 960, 1280, 1920, 2560];

/** Query values, as the request-spec resolver reads them (Express's parser gives strings). */
type Query = Record<string, string>;

/** One image the route would send: its query, its spec and the spec the module resolves it to. */
interface Variant {
  query: Query;
  spec: Omit<ResizeSpec, 'redraw' | 'accept'>;
  resolved: ResolvedResizeSpec;
}

/** A variant as a candidate of the srcset, with the size of the image the route will send. */
interface Candidate extends Variant {
  /** Width and height of the image sent, when known; else the box. */
  sent: { width: number; height: number };
  known: boolean;
  /** How much the original is scaled (above 1: up), when its size is known. */
  scale?: number;
}

/**
 * The `<img>` attributes of a `@ResizedImage()` route: `src`, a `srcset` of the other images the route
 * offers of the same picture (by width, `320w`, or by density, `2x`), `sizes` when given, and `width`
 * and `height`. Every URL is one the route accepts: each is read back through the route's own request
 * resolver and the module's limits before it is written, and is signed (with `signer`) on a `signed`
 * route. Candidates the module's limits refuse are left out; candidates that would send the same image
 * as a smaller one (an original smaller than the box is not enlarged) too.
 *
 * @param route the options of the route's `@ResizedImage()`, as the decorator stores them
 *   (`Reflect.getMetadata(RESIZED_IMAGE_METADATA, handler)`)
 * @param path the route's path with its parameters filled in (see `routePath`), as the browser will
 *   request it, global prefix included: on a signed route it is part of what is signed
 * @throws ImageAttributesError when the choice is not one the route offers (or, on a signed route, the
 *   module's limits refuse it), the route needs a choice (it has no size of its own), a signed route
 *   has no `signer`, or `widths`, `densities`, `intrinsic` or the path are not what they should be
 */
export function imageAttributes(
  route: ResizedImageOptions,
  path: string,
  options: ImageAttributesOptions,
): ImageAttributes {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw new ImageAttributesError(
      `The path must start with "/" and hold no query, fragment or space (fill the pattern with routePath): got ${JSON.stringify(path)}`,
    );
  }
  checkIntrinsic(options.intrinsic);
  const descriptors = options.descriptors ?? defaultDescriptors(options);
  if (options.descriptors === 'x' && options.sizes !== undefined) {
    throw new ImageAttributesError(
      'sizes goes with width descriptors ("w"), not with density descriptors ("x")',
    );
  }
  const plan = route.signed ? signedPlan(route, options, descriptors) : offeredPlan(route, options);
  const candidates = plan.candidates.map((variant) => withSentSize(variant, options.intrinsic));
  // The base is one of the candidates (the descriptors tell it from the others by identity).
  const base = candidates[plan.candidates.indexOf(plan.base)];
  const url = (variant: Variant) => {
    if (route.signed) return (options.signer as ImageUrlSigner)(path, variant.query);
    const query = new URLSearchParams(Object.entries(variant.query)).toString();
    return query ? `${path}?${query}` : path;
  };
  // The size at which the src is displayed: what the route sends for it, in CSS pixels.
  const dpr = base.spec.dpr ?? 1;
  const display = { width: base.sent.width / dpr, height: base.sent.height / dpr };
  const attributes: ImageAttributes = { src: url(base) };
  const entries =
    descriptors === 'w'
      ? widthDescriptors(base, candidates)
      : densityDescriptors(base, candidates, display, densities(options));
  // One image only: no srcset, and so no sizes (which means nothing without one).
  if (entries.length > 1) {
    attributes.srcset = entries.map(([variant, descriptor]) => `${url(variant)} ${descriptor}`).join(', ');
    if (descriptors === 'w' && options.sizes !== undefined) attributes.sizes = options.sizes;
  }
  if (base.known) {
    attributes.width = Math.max(1, Math.round(display.width));
    attributes.height = Math.max(1, Math.round(display.height));
  }
  return attributes;
}

function checkIntrinsic(intrinsic: ImageAttributesOptions['intrinsic']): void {
  if (intrinsic === undefined) return;
  const side = (value: unknown) => Number.isInteger(value) && (value as number) >= 1;
  if (!side(intrinsic?.width) || !side(intrinsic?.height)) {
    throw new ImageAttributesError(
      `intrinsic must be { width, height } in whole pixels >= 1: got ${JSON.stringify(intrinsic)}`,
    );
  }
}

/**
 * Width descriptors with `sizes` only: without it a browser takes the image to fill the viewport
 * (`100vw`) and picks far too large a candidate. Without `sizes` the box is fixed: density descriptors.
 */
function defaultDescriptors(options: ImageAttributesOptions): 'w' | 'x' {
  return options.sizes !== undefined ? 'w' : 'x';
}

/** The variant `query` names, or the reason the route (or the module) refuses it. */
function accept(route: ResizedImageOptions, query: Query, limits: ImageAttributesLimits): Variant | Error {
  try {
    // The signature is the signer's business: the URL is read as the route reads a signed one.
    const spec = specFromRequest(route, query, () => true);
    const resolved = resolveResizeSpec({ ...spec }, limits);
    return { query, spec, resolved };
  } catch (error) {
    if (error instanceof InvalidResizeSpecError) return error;
    throw error;
  }
}

/** What makes two variants the same picture at another size (quality aside). */
function look(variant: Variant): string {
  const { resolved, spec } = variant;
  return JSON.stringify([
    resolved.negotiated ? ['auto', spec.fallback ?? null] : resolved.format,
    resolved.fit,
    resolved.position,
    resolved.background ?? null,
    resolved.withoutEnlargement,
    resolved.palette,
    resolved.animated,
  ]);
}

/** Whether `variant` is `base` scaled (same aspect ratio, within a pixel of rounding). */
function sameAspect(base: Variant, variant: Variant): boolean {
  const { width: bw, height: bh } = base.resolved;
  const { width, height } = variant.resolved;
  return Math.abs(height - (bh * width) / bw) <= 1 && Math.abs(width - (bw * height) / bh) <= 1;
}

interface Plan {
  base: Variant;
  /** Every variant that may join the srcset, `base` itself included. */
  candidates: Variant[];
}

/** A route without `signed`: its own size, its presets, its widths, and each preset at each width. */
function offeredPlan(route: ResizedImageOptions, options: ImageAttributesOptions): Plan {
  const presets = Object.keys(route.presets ?? {});
  const queries: Query[] = [];
  for (const preset of [undefined, ...presets]) {
    const own: Query = preset === undefined ? {} : { preset };
    queries.push(own);
    for (const width of route.widths ?? []) queries.push({ ...own, w: String(width) });
  }
  const offered: Variant[] = [];
  for (const query of queries) {
    const variant = accept(route, query, options.limits);
    if (!(variant instanceof Error)) offered.push(variant);
  }
  const base = chooseOffered(route, offered, options);
  // Other sizes of the same picture: the same look, the same aspect ratio.
  const candidates = offered.filter((variant) => look(variant) === look(base) && sameAspect(base, variant));
  return { base, candidates };
}

/** Describes an offered variant for an error message: `256x256` and its query. */
function describe(variant: Variant): string {
  const query = new URLSearchParams(Object.entries(variant.query)).toString();
  return `${variant.spec.width}x${variant.spec.height}${variant.spec.format ? ` ${variant.spec.format}` : ''} (${query ? `?${query}` : 'no query'})`;
}

function chooseOffered(
  route: ResizedImageOptions,
  offered: Variant[],
  options: ImageAttributesOptions,
): Variant {
  const choice = options.choose ?? {};
  const presets = Object.keys(route.presets ?? {});
  if (choice.preset !== undefined && !presets.includes(choice.preset)) {
    throw new ImageAttributesError(
      `The route has no preset ${JSON.stringify(choice.preset)}${presets.length ? ` (its presets: ${presets.join(', ')})` : ' (it has none)'}`,
    );
  }
  const list = () => offered.map(describe).join('; ') || 'none within the module limits';
  if (Object.values(choice).every((value) => value === undefined)) {
    // The route's own size: what a request without a query gets.
    const own = offered.find(({ query }) => Object.keys(query).length === 0);
    if (own) return own;
    throw new ImageAttributesError(
      `The route has no size of its own: choose one of its presets (${presets.join(', ')}). It offers: ${list()}`,
    );
  }
  const matches = offered.filter(
    ({ query, spec }) =>
      (choice.preset === undefined || query.preset === choice.preset) &&
      (choice.width === undefined || spec.width === choice.width) &&
      (choice.height === undefined || spec.height === choice.height) &&
      (choice.format === undefined || (spec.format ?? 'png') === choice.format) &&
      (choice.fit === undefined || (spec.fit ?? 'inside') === choice.fit) &&
      (choice.quality === undefined || spec.quality === choice.quality),
  );
  // The simplest URL of those that match: the route's own size, then a preset, then a width.
  matches.sort((a, b) => Object.keys(a.query).length - Object.keys(b.query).length);
  if (matches.length > 0) return matches[0];
  throw new ImageAttributesError(
    `The route offers no image matching ${JSON.stringify(choice)}. It offers: ${list()}`,
  );
}

/** A `signed` route: any box and format within the limits, as signed `w`, `h`, `format`, `q`, `fit` and `dpr`. */
function signedPlan(
  route: ResizedImageOptions,
  options: ImageAttributesOptions,
  descriptors: 'w' | 'x',
): Plan {
  if (!options.signer) {
    throw new ImageAttributesError(
      'The route is signed: give a signer, e.g. (path, params) => images.signUrl(path, params)',
    );
  }
  const choice = options.choose ?? {};
  if (choice.preset !== undefined) {
    throw new ImageAttributesError(
      'A signed route ignores ?preset: choose { width, height, format, fit, quality } instead',
    );
  }
  const width = choice.width ?? route.width;
  const height = choice.height ?? route.height;
  if (width === undefined || height === undefined) {
    throw new ImageAttributesError('The signed route has no size of its own: choose { width, height }');
  }
  const params: Query = { w: String(width), h: String(height) };
  if (choice.format !== undefined) params.format = choice.format;
  if (choice.fit !== undefined) params.fit = choice.fit;
  if (choice.quality !== undefined) params.q = String(choice.quality);
  const base = accept(route, params, options.limits);
  if (base instanceof Error) {
    throw new ImageAttributesError(`The signed route refuses ${JSON.stringify(choice)}: ${base.message}`);
  }
  const candidates: Variant[] = [base];
  const scaled =
    descriptors === 'w'
      ? signedWidths(options.widths ?? route.widths ?? DEFAULT_SIGNED_WIDTHS).map((w): Query => ({
          ...params,
          w: String(w),
          h: String(Math.max(1, Math.round((height * w) / width))),
        }))
      : densities(options).map((dpr): Query => ({ ...params, dpr: String(dpr) }));
  for (const query of scaled) {
    const variant = accept(route, query, options.limits);
    if (!(variant instanceof Error)) candidates.push(variant);
  }
  return { base, candidates };
}

function signedWidths(widths: readonly number[]): readonly number[] {
  for (const width of widths) {
    if (!Number.isInteger(width) || width < 1) {
      throw new ImageAttributesError(`widths are whole CSS pixels >= 1: got ${String(width)}`);
    }
  }
  return widths;
}

function densities(options: ImageAttributesOptions): number[] {
  const given = options.densities ?? [1, 2];
  for (const density of given) {
    if (typeof density !== 'number' || !(density >= 1 && density <= 3)) {
      throw new ImageAttributesError(
        `densities are numbers from 1 to 3 (dpr's range): got ${String(density)}`,
      );
    }
  }
  return given.filter((density) => density > 1);
}

/**
 * The size of the image the processor sends for `variant`'s box (as sharp resizes: see
 * `sharp-image.work.ts`), or the box when that depends on an original of unknown size; and, when the
 * original's size is known, by how much the original is scaled up (above 1) or down.
 */
function withSentSize(variant: Variant, intrinsic: ImageAttributesOptions['intrinsic']): Candidate {
  const { width: bw, height: bh, fit, withoutEnlargement } = variant.resolved;
  const box = { width: bw, height: bh };
  const fills = fit === 'contain' || (!withoutEnlargement && (fit === 'cover' || fit === 'fill'));
  if (!intrinsic) return { ...variant, sent: box, known: fills };
  const { width: iw, height: ih } = intrinsic;
  const sx = bw / iw;
  const sy = bh / ih;
  const most = (scale: number) => (withoutEnlargement ? Math.min(scale, 1) : scale);
  if (fit === 'contain') return { ...variant, sent: box, known: true, scale: most(Math.min(sx, sy)) };
  if (fit === 'cover' || fit === 'fill') {
    // sharp scales neither side up, and crops (or stretches) to what it can fill.
    const sent = fills ? box : { width: Math.min(bw, iw), height: Math.min(bh, ih) };
    return { ...variant, sent, known: true, scale: most(Math.max(sx, sy)) };
  }
  const byWidth = fit === 'inside' ? sx <= sy : sx >= sy;
  const scale = byWidth ? sx : sy;
  if (withoutEnlargement && scale > 1)
    return { ...variant, sent: { width: iw, height: ih }, known: true, scale: 1 };
  const sent = byWidth
    ? { width: bw, height: Math.max(1, Math.round(ih / (iw / bw))) }
    : { width: Math.max(1, Math.round(iw / (ih / bh))), height: bh };
  return { ...variant, sent, known: true, scale };
}

/**
 * Leaves out, of candidates in ascending order, those that only scale the original up further than
 * one already kept that has all of its pixels: the browser scales up as well as the server, for
 * fewer bytes. The base is always kept.
 */
function withoutUpscales<T extends [Candidate, unknown]>(base: Candidate, entries: T[]): T[] {
  let full = false;
  return entries.filter(([candidate]) => {
    if (candidate !== base && full && (candidate.scale ?? 0) > 1) return false;
    if ((candidate.scale ?? 0) >= 1) full = true;
    return true;
  });
}

/** Candidates by the width of the image each sends, smallest first; one per width. */
function widthDescriptors(base: Candidate, candidates: Candidate[]): Array<[Candidate, string]> {
  // The base stands for the width it shares with others; then the smallest box that sends a width.
  const ordered = [base, ...candidates.filter((c) => c !== base).sort(bySize)];
  const byWidth = new Map<number, Candidate>();
  for (const candidate of ordered) {
    if (!byWidth.has(candidate.sent.width)) byWidth.set(candidate.sent.width, candidate);
  }
  const entries = [...byWidth.entries()]
    .sort(([a], [b]) => a - b)
    .map(([width, candidate]): [Candidate, string] => [candidate, `${width}w`]);
  return withoutUpscales(base, entries);
}

/**
 * The base at 1x, and for each further density asked for, the candidate whose box is the base's
 * (in CSS pixels) times it; described by the density of the image it sends, and left out when that
 * image is no larger than the one before (an original too small to fill the larger box).
 */
function densityDescriptors(
  base: Candidate,
  candidates: Candidate[],
  display: { width: number; height: number },
  asked: number[],
): Array<[Candidate, string]> {
  const dpr = base.spec.dpr ?? 1;
  const css = { width: base.resolved.width / dpr, height: base.resolved.height / dpr };
  const entries: Array<[Candidate, number]> = [[base, round2(base.sent.width / display.width)]];
  for (const density of [...asked].sort((a, b) => a - b)) {
    const width = Math.round(css.width * density);
    const height = Math.round(css.height * density);
    const match = candidates
      .filter((c) => c.resolved.width === width && Math.abs(c.resolved.height - height) <= 1)
      .sort(bySize)[0];
    if (!match) continue;
    const value = round2(match.sent.width / display.width);
    if (entries.every(([candidate, seen]) => value > seen && match.sent.width > candidate.sent.width)) {
      entries.push([match, value]);
    }
  }
  return withoutUpscales(
    base,
    entries
      .sort(([, a], [, b]) => a - b)
      .map(([candidate, value]): [Candidate, string] => [candidate, `${value}x`]),
  );
}

/** Smaller boxes first; of equal boxes, the URL with fewer parameters. */
function bySize(a: Variant, b: Variant): number {
  return (
    a.resolved.width - b.resolved.width ||
    a.resolved.height - b.resolved.height ||
    Object.keys(a.query).length - Object.keys(b.query).length
  );
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
