import { Injectable, type Type } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { RESIZED_IMAGE_METADATA } from '../image-resize.constants';
// Types only: the decorator's module imports the responder, which imports the service, which imports this.
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { joinRoutePath } from './route-path';
import { routePathOf } from '../decorators/nest-internals';

/**
 * A `@ResizedImage()` route: its full path pattern as Nest routes it, global prefix included (e.g.
 * `'/assets/:slug/logo'`), or its controller class and method name (`[AssetsController, 'logo']`).
 */
export type ResizedImageRoute = string | readonly [controller: Type<unknown>, method: string];

/** One decorated route: where it is, and what its decorator says. */
export interface ResizedImageRouteEntry {
  /** The path pattern, global prefix included: `/assets/:slug/logo`. */
  pattern: string;
  options: ResizedImageOptions;
  controller: Type<unknown>;
  method: string;
}

/**
 * The application's `@ResizedImage()` routes, found once (on first use, when the application has its
 * global prefix) among its controllers. A route's path is its controller's first path joined with its
 * method's first path; `RouterModule` paths and versions are not added.
 */
@Injectable()
export class ResizedImageRoutes {
  private entries?: ResizedImageRouteEntry[];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly config: ApplicationConfig,
  ) {}

  /**
   * The route, by its path pattern or by its controller and method.
   *
   * @throws ImageResizeConfigError naming the routes there are, when it is not one of them
   */
  find(route: ResizedImageRoute): ResizedImageRouteEntry {
    const entries = (this.entries ??= this.discover());
    const found =
      typeof route === 'string'
        ? entries.find((entry) => entry.pattern === joinRoutePath(route))
        : entries.find((entry) => entry.controller === route[0] && entry.method === route[1]);
    if (found) return found;
    const name =
      typeof route === 'string' ? JSON.stringify(route) : `${route[0]?.name ?? String(route[0])}.${route[1]}`;
    const known = entries.map((entry) => `${entry.pattern} (${entry.controller.name}.${entry.method})`);
    throw new ImageResizeConfigError(
      `${name} is not a @ResizedImage() route of this application; its routes are: ${known.join(', ') || 'none'}`,
    );
  }

  private discover(): ResizedImageRouteEntry[] {
    const prefix = this.config.getGlobalPrefix();
    const entries: ResizedImageRouteEntry[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const controller = wrapper.metatype as Type<unknown> | undefined;
      if (!controller?.prototype) continue;
      const base = first(routePathOf(controller));
      for (const method of this.scanner.getAllMethodNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[method];
        if (typeof handler !== 'function') continue;
        const options = Reflect.getMetadata(RESIZED_IMAGE_METADATA, handler) as
          ResizedImageOptions | undefined;
        if (!options) continue;
        const path = first(routePathOf(handler));
        entries.push({ pattern: joinRoutePath(prefix, base, path), options, controller, method });
      }
    }
    return entries;
  }
}

/** A path given to `@Controller()` or `@Get()`: the first when there are several. */
function first(path: unknown): string | undefined {
  const value = Array.isArray(path) ? (path[0] as unknown) : path;
  return typeof value === 'string' ? value : undefined;
}
