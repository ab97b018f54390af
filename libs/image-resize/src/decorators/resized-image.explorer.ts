import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { ImageResizeConfigError, InvalidResizeSpecError } from '../errors/image-resize.errors';
import { IMAGE_RESIZE_OPTIONS, RESIZED_IMAGE_METADATA } from '../image-resize.constants';
import { ResizedImageResponder } from '../http/resized-image.responder';
import { specFromRequest } from '../http/request-spec.resolver';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';
import { checkNestContract, isRouteHandler } from './nest-internals';
import {
  isResizedImageHandler,
  RESPONDER,
  RESPONSE_INDEX,
  type ResizedImageOptions,
} from './resized-image.decorator';

/**
 * Walks every `@ResizedImage()` route when the application starts, and refuses to start (with an
 * error that names the controller and method) when a route could only fail at request time:
 * - its controller did not get a {@link ResizedImageResponder} (its module does not import
 *   ImageResizeModule);
 * - it is `signed: true` but the module has no `signing.keys`;
 * - its own size, a preset or an allowed width is not a spec the module accepts (for example larger
 *   than `maxOutputWidth` / `maxOutputHeight`);
 * - it overrides a decorated route of a base class without being decorated itself (it would get the
 *   response parameter but never answer).
 * Each registration of ImageResizeModule checks the controllers that use it.
 */
@Injectable()
export class ResizedImageExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly responder: ResizedImageResponder,
    @Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions,
  ) {}

  onModuleInit(): void {
    checkNestContract();
    const problems: string[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as Record<symbol, unknown> | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance) as object;
      for (const key of this.scanner.getAllMethodNames(prototype)) {
        const name = `${prototype.constructor.name}.${key}`;
        const method = (prototype as Record<string, unknown>)[key];
        if (!isResizedImageHandler(method)) {
          const inherited = Reflect.getMetadata(RESPONSE_INDEX, prototype.constructor, key) !== undefined;
          if (inherited && isRouteHandler(method)) {
            problems.push(
              `${name} overrides a @ResizedImage() route without being decorated itself: add @ResizedImage() to the override`,
            );
          }
          continue;
        }
        const responder = instance[RESPONDER];
        if (responder === undefined) {
          problems.push(
            `${name}: the controller got no ResizedImageResponder: import ImageResizeModule in the controller's module (or register it with isGlobal: true)`,
          );
          continue;
        }
        if (responder !== this.responder) continue; // another registration of the module checks it
        const route = Reflect.getMetadata(RESIZED_IMAGE_METADATA, method as object) as ResizedImageOptions;
        problems.push(...this.check(route).map((problem) => `${name}: ${problem}`));
      }
    }
    if (problems.length > 0) {
      throw new ImageResizeConfigError(
        `@ResizedImage() routes that cannot work:\n- ${[...new Set(problems)].join('\n- ')}`,
      );
    }
  }

  /** What is wrong with one route under this module's options. */
  private check(route: ResizedImageOptions): string[] {
    const problems: string[] = [];
    if (route.signed && !this.options.signing?.keys.length) {
      problems.push('signed: true needs the module option "signing": { keys: [...] }');
    }
    const variants: Array<[string, Record<string, string>]> = [];
    if (route.width !== undefined && route.height !== undefined) variants.push(['its size', {}]);
    if (!route.signed) {
      for (const name of Object.keys(route.presets ?? {}))
        variants.push([`preset "${name}"`, { preset: name }]);
      for (const width of route.widths ?? []) variants.push([`width ${width}`, { w: String(width) }]);
    }
    for (const [what, query] of variants) {
      try {
        resolveResizeSpec(
          { ...specFromRequest({ ...route, signed: false }, query, () => true) },
          this.options,
        );
      } catch (error) {
        if (!(error instanceof InvalidResizeSpecError)) throw error;
        const limit = /^(width|height)\b/.test(error.message)
          ? ' (the module options maxOutputWidth / maxOutputHeight set the limit)'
          : '';
        problems.push(`${what}: ${error.message}${limit}`);
      }
    }
    return problems;
  }
}
