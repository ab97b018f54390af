import { Inject, Optional, Res, SetMetadata } from '@nestjs/common';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { RESIZED_IMAGE_METADATA } from '../image-resize.constants';
import {
  type ResizedImageCall,
  ResizedImageResponder,
  type ResponseHeaders,
} from '../http/resized-image.responder';
import { exchangeOf } from '../http/image-exchange';
import type { ResizeSpec } from '../spec/resize-spec.interface';
import type { ImageSource } from '../sources/image-source.interface';
import type { CacheControlOptions } from '../options/image-resize-options.interface';
import { checkCacheControl } from '../options/image-resize.options';
import { routeChecks as route } from '../options/validation';
import { isResponseParam, paramIndex, responseParamKey, routeArgs, setRouteArgs } from './nest-internals';
import { documentResizedImageRoute } from '../openapi/resized-image.openapi';

/** What a preset may set: anything of a spec that a route fixes, but the cache name. */
export type ResizePreset = Partial<Omit<ResizeSpec, 'redraw' | 'accept' | 'cacheKey'>>;

/**
 * The spec of `@ResizedImage()`: a {@link ResizeSpec} without what each request supplies (`redraw`
 * comes from `?redraw` where allowed, `accept` from the request's header), plus the ways a request
 * may choose its size — always among values the route lists, or with a signed URL.
 */
export interface ResizedImageOptions extends Omit<ResizeSpec, 'redraw' | 'accept' | 'width' | 'height'> {
  /** Width of the box; may be left to `presets` or to signed query parameters. */
  width?: number;
  /** Height of the box; may be left to `presets` or to signed query parameters. */
  height?: number;
  /**
   * Named variants the request picks with `?preset=<name>`, e.g. `{ small: { width: 64, height: 64 },
   * large: { width: 512, height: 512, format: 'webp' } }`. Any other name gives 400; without `?preset`
   * the route's own `width`/`height` apply (400 when it has none).
   */
  presets?: Record<string, ResizePreset>;
  /**
   * Widths the request may pick with `?w=<width>`; the height follows the route's aspect ratio.
   * Any other width gives 400.
   */
  widths?: number[];
  /**
   * Take `w`, `h`, `format`, `q`, `fit` and `dpr` freely from the query, which must then be signed
   * (module option `signing`; build URLs with `ImageResizeService.signUrl`). A missing or bad
   * signature gives 403.
   */
  signed?: boolean;
  /**
   * This route's `Cache-Control` (`private`, or `sMaxAge`/`immutable` for a public image); replaces the
   * module's `cacheControl`. A `Cache-Control` the route sets with `@Header()` wins over both.
   */
  cacheControl?: CacheControlOptions;
  /**
   * Answer `?placeholder` with the original's placeholder as JSON (`{ dataUrl, color, width, height,
   * bytes }`, see `ImageResizeService.placeholder`), for clients that build their own `<img>`. Cached
   * and sent like the images (ETag, Cache-Control). Default false: `?placeholder` is ignored.
   */
  placeholder?: boolean;
}

const PRESET_NAME = /^[\w-]{1,40}$/;
const PRESETS_EXPECTED = 'a non-empty object of presets named with 1 to 40 letters, digits, "_" or "-"';

function checkOptions(spec: ResizedImageOptions): void {
  checkCacheControl(route, 'cacheControl', spec.cacheControl);
  const hasBox = spec.width !== undefined && spec.height !== undefined;
  if (!hasBox && !spec.presets && !spec.signed) {
    throw new ImageResizeConfigError('@ResizedImage() needs width and height, presets, or signed: true');
  }
  if (spec.presets) {
    const names = Object.keys(spec.presets);
    route.assert(names.length > 0, 'presets', PRESETS_EXPECTED, spec.presets);
    for (const name of names) {
      route.assert(PRESET_NAME.test(name), 'presets', PRESETS_EXPECTED, spec.presets, {
        got: `the name ${JSON.stringify(name)}`,
      });
    }
  }
  if (spec.widths) {
    if (!hasBox)
      throw new ImageResizeConfigError('@ResizedImage() widths need the route\u2019s width and height');
    const widths = route.list('widths', spec.widths, 'a non-empty array of integers >= 1', {
      nonEmpty: true,
    });
    route.each('widths', widths, (at, width) => route.integer(at, width, 1));
  }
}

/** Where a controller with `@ResizedImage()` routes gets its {@link ResizedImageResponder} injected. */
export const RESPONDER = Symbol('ResizedImageResponder');

/** Metadata key (on the class, per method) of the index at which the decorator added the response parameter. */
export const RESPONSE_INDEX = 'nestjs-image-resize:response-index';

/** Metadata key (on the class) that says its responder property is declared. */
const RESPONDER_DECLARED = 'nestjs-image-resize:responder';

/** The methods that `@ResizedImage()` made, to tell them from overrides that were not decorated. */
const WRAPPERS = new WeakSet<object>();

/** Whether `method` is a handler that `@ResizedImage()` decorated. */
export function isResizedImageHandler(method: unknown): boolean {
  return typeof method === 'function' && WRAPPERS.has(method);
}

type Handler = (...args: unknown[]) => unknown;

/**
 * Serves the image that the decorated controller method points to, resized to `spec` and cached.
 *
 * The method returns an {@link ImageSource} (a URL, a Buffer, a stream, or `{ url | buffer | stream
 * | path, cacheKey? }`), or a Promise of one; `null`/`undefined` answers 404. The response carries
 * `Content-Type`, `Content-Length`, `Cache-Control: public, max-age=<ttl>` (`private, ...` with
 * `cacheControl: { private: true }`; the route's own when it sets one with `@Header()`, and then no
 * `Expires`), `Expires`, a strong `ETag`, `X-Cache`, `X-Content-Type-Options: nosniff` and, for
 * `format: 'auto'`, `Vary: Accept`; it answers `If-None-Match` with 304 and honours `?redraw` only
 * where `allowRedraw` permits it.
 *
 * The library writes the response itself (no interceptor, no stream), so the method must not take
 * `@Res()` or `@Next()`; it receives the response as an extra argument after its own, which it does
 * not see. Guards, pipes, `@Header()` and the application's interceptors apply as on any route.
 * Called directly (not through HTTP, e.g. in a unit test), the method returns what it returns without
 * the decorator; the controller needs no ImageResizeModule for that (`Test.createTestingModule` with
 * its own providers mocked is enough). An override in a subclass must be decorated too: it inherits
 * the response parameter.
 *
 * @throws ImageResizeConfigError when the class is defined, if the spec cannot work (no size, bad presets or
 *   widths) or the method takes `@Res()`/`@Next()`; and when the application boots, naming the
 *   controller and method, if the controller's module does not import ImageResizeModule, a `signed`
 *   route has no `signing.keys`, a size, preset or allowed width exceeds `maxOutputWidth` /
 *   `maxOutputHeight`, or an override of a decorated route is not decorated itself
 *
 * @example
 * ```ts
 * @Get(':slug/logo_small.png')
 * @ResizedImage({ width: 256, height: 256, format: 'png' })
 * logo(@Param('slug') slug: string) {
 *   // One cacheKey per original, for all its routes: purge(`logo_${slug}`) removes every size.
 *   return { url: this.assets.logoUrl(slug), cacheKey: `logo_${slug}` };
 * }
 * ```
 */
export function ResizedImage(spec: ResizedImageOptions): MethodDecorator {
  checkOptions(spec);
  return <T>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T> | undefined) => {
    const handler = descriptor?.value as Handler | undefined;
    const name = `${target.constructor.name}.${String(key)}`;
    if (!descriptor || typeof handler !== 'function') {
      throw new ImageResizeConfigError(`@ResizedImage() goes on a method; ${name} is not one`);
    }
    const args = routeArgs(target, key);
    // A decorated method of a base class left its response parameter in the metadata this class
    // inherits: it is not the user's, and it moves to where this method's own parameters end.
    const inherited = Reflect.getMetadata(RESPONSE_INDEX, target.constructor, key) as number | undefined;
    const ownKey = inherited === undefined ? undefined : responseParamKey(inherited);
    const params = Object.keys(args).filter((param) => param !== ownKey);
    if (params.some(isResponseParam)) {
      throw new ImageResizeConfigError(
        `@ResizedImage() writes the response itself: remove @Res()/@Next() from ${name}`,
      );
    }
    if (ownKey) {
      const { [ownKey]: _inherited, ...rest } = args;
      setRouteArgs(target, key, rest);
    }
    // The response, as an argument after the method's own: its presence tells Nest not to send the
    // handler's result. The responder is a property of the controller, injected from ImageResizeModule.
    // TypeScript's parameter types count defaulted parameters, which `handler.length` does not.
    // The handler itself gets only the arguments Nest fills in for it (a rest parameter stays empty).
    const own = Math.max(handler.length, ...params.map((param) => paramIndex(param) + 1));
    const declared = (Reflect.getMetadata('design:paramtypes', target, key) as unknown[] | undefined)?.length;
    const index = Math.max(own, declared ?? 0);
    Res()(target, key, index);
    Reflect.defineMetadata(RESPONSE_INDEX, index, target.constructor, key);
    injectResponder(target);
    const wrapped = {
      [key](this: Record<symbol, ResizedImageResponder | undefined>, ...args: unknown[]): unknown {
        const response = args[index];
        // Called directly (a unit test, a subclass's super call): the method as it was written.
        if (response === undefined) return handler.apply(this, args);
        const exchange = exchangeOf(response);
        const responder = this[RESPONDER];
        if (!exchange || !responder) {
          throw new ImageResizeConfigError(
            exchange
              ? `${name}: the controller has no ResizedImageResponder; let Nest create it, in a module that imports ImageResizeModule`
              : `${name}: @ResizedImage() serves through Express or Fastify (@nestjs/platform-express or @nestjs/platform-fastify), and this response is neither`,
          );
        }
        args.length = own;
        // Read before the handler runs: a request for a size the route does not offer costs nothing.
        // The response goes along for the headers the route set on it (a `@Header('Cache-Control')`).
        const call = responder.prepare(spec, exchange, response as ResponseHeaders);
        return sendWhenReady(call, handler.apply(this, args));
      },
    }[key as string] as Handler;
    WRAPPERS.add(wrapped);
    // What other decorators said of the method (route, guards, headers...) holds for the wrapper too.
    for (const metadataKey of Reflect.getOwnMetadataKeys(handler)) {
      Reflect.defineMetadata(metadataKey, Reflect.getOwnMetadata(metadataKey, handler), wrapped);
    }
    descriptor.value = wrapped as T;
    SetMetadata(RESIZED_IMAGE_METADATA, spec)(target, key, descriptor);
    // Described in the app's OpenAPI document when @nestjs/swagger is installed; otherwise a no-op.
    documentResizedImageRoute(target, key, descriptor, spec);
    // Installed here as well, for code that applies decorators by hand and keeps the descriptor.
    Object.defineProperty(target, key, descriptor);
    return descriptor;
  };
}

/** Answers `call` with the source the handler returned, once its Promise (if any) settles. */
async function sendWhenReady(call: ResizedImageCall, source: unknown): Promise<void> {
  await call.send((await source) as ImageSource | null | undefined);
}

/**
 * Declares the controller's dependency on the responder, once per class hierarchy. It is optional, so
 * that a controller unit test needs no ImageResizeModule; in an application, the module refuses to
 * boot when a controller with `@ResizedImage()` routes did not get one.
 */
function injectResponder(target: object): void {
  if (Reflect.getMetadata(RESPONDER_DECLARED, target.constructor)) return;
  Inject(ResizedImageResponder)(target, RESPONDER);
  Optional()(target, RESPONDER);
  Reflect.defineMetadata(RESPONDER_DECLARED, true, target.constructor);
}
