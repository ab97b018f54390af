import { Get, Module, Next, Param, Res } from '@nestjs/common';
import { ImageResizeConfigError } from '../errors/image-resize.errors';

/*
 * Everything `@ResizedImage()` relies on of how Nest stores route metadata, in one place. Nothing is
 * imported from Nest's internal paths: the metadata keys and parameter types are read off a probe
 * class decorated with Nest's own public decorators, and `checkNestContract()` says plainly when a
 * Nest version stores them in a shape this library does not know.
 */

/** Route parameters of one method, as Nest keeps them: `<type>:<index>` → `{ index, ... }`. */
export type RouteArgs = Record<string, { index: number } & Record<string, unknown>>;

interface NestContract {
  /** Metadata key (on the class, per method) of the route's parameter decorators. */
  routeArgsKey: string | symbol;
  /** Parameter types of `@Res()` and `@Next()` in that metadata. */
  responseType: string;
  nextType: string;
  /** Metadata key (on the method) that makes it a route: its path. */
  pathKey: string | symbol;
  /** Metadata key (on a module class) of its `imports`. */
  importsKey: string | symbol;
}

let contract: NestContract | undefined;

/**
 * Reads Nest's metadata layout off a probe class, once. Throws an {@link ImageResizeConfigError} that
 * names what differs when this Nest version is not one the library was built for.
 */
export function checkNestContract(): void {
  nest();
}

function nest(): NestContract {
  if (contract) return contract;
  const fail = (what: string) =>
    new ImageResizeConfigError(
      `nestjs-image-resize does not support this version of @nestjs/common: ${what}. Use a supported Nest version (see the package's peerDependencies)`,
    );
  class Probe {
    handler(): void {}
  }
  const method = Object.getOwnPropertyDescriptor(Probe.prototype, 'handler') as PropertyDescriptor;
  Res()(Probe.prototype, 'handler', 0);
  Next()(Probe.prototype, 'handler', 1);
  Param('id')(Probe.prototype, 'handler', 2);
  const argsKeys = Reflect.getOwnMetadataKeys(Probe, 'handler');
  if (argsKeys.length !== 1) throw fail('route parameter decorators did not record one metadata entry');
  const routeArgsKey = argsKeys[0] as string | symbol;
  const args = Reflect.getOwnMetadata(routeArgsKey, Probe, 'handler') as RouteArgs | undefined;
  const typeAt = (index: number) => {
    const entry = Object.entries(args ?? {}).find(([, value]) => value?.index === index);
    if (!entry || paramIndex(entry[0]) !== index) {
      throw fail(`route parameter ${index} is not recorded as "<type>:${index}"`);
    }
    return paramType(entry[0]);
  };
  const responseType = typeAt(0);
  const nextType = typeAt(1);
  const paramTypeOfParam = typeAt(2);
  if (new Set([responseType, nextType, paramTypeOfParam]).size !== 3) {
    throw fail('@Res(), @Next() and @Param() share a parameter type');
  }
  const before = new Set(Reflect.getOwnMetadataKeys(method.value as object));
  Get('probe')(Probe.prototype, 'handler', method);
  const pathKeys = Reflect.getOwnMetadataKeys(method.value as object).filter(
    (key) => !before.has(key) && Reflect.getOwnMetadata(key, method.value as object) === 'probe',
  );
  if (pathKeys.length !== 1) throw fail('@Get() did not record its path on the method');
  class Imported {}
  class ProbeModule {}
  Module({ imports: [Imported] })(ProbeModule);
  const importsKeys = Reflect.getOwnMetadataKeys(ProbeModule).filter((key) => {
    const value: unknown = Reflect.getOwnMetadata(key, ProbeModule);
    return Array.isArray(value) && value.length === 1 && value[0] === Imported;
  });
  if (importsKeys.length !== 1) throw fail('@Module() did not record its imports on the class');
  contract = {
    routeArgsKey,
    responseType,
    nextType,
    pathKey: pathKeys[0] as string | symbol,
    importsKey: importsKeys[0] as string | symbol,
  };
  return contract;
}

/** The route parameters that Nest's decorators recorded for `target[key]` (inherited ones included). */
export function routeArgs(target: object, key: string | symbol): RouteArgs {
  return (Reflect.getMetadata(nest().routeArgsKey, target.constructor, key) ?? {}) as RouteArgs;
}

/** Replaces the route parameters of `target[key]` on its own class. */
export function setRouteArgs(target: object, key: string | symbol, args: RouteArgs): void {
  Reflect.defineMetadata(nest().routeArgsKey, args, target.constructor, key);
}

/** The `<type>:<index>` key under which `@Res()` at `index` is recorded. */
export function responseParamKey(index: number): string {
  return `${nest().responseType}:${index}`;
}

/** Whether a recorded parameter is `@Res()` or `@Next()`. */
export function isResponseParam(param: string): boolean {
  const type = paramType(param);
  return type === nest().responseType || type === nest().nextType;
}

/** The position of a recorded parameter. */
export function paramIndex(param: string): number {
  return Number(param.slice(param.lastIndexOf(':') + 1));
}

/** Whether `method` is a route handler (it carries a path from `@Get()` and the like). */
export function isRouteHandler(method: unknown): boolean {
  return typeof method === 'function' && Reflect.getOwnMetadata(nest().pathKey, method) !== undefined;
}

/** The path(s) that `@Controller()` gave a class, or `@Get()` and the like a method. */
export function routePathOf(target: object): unknown {
  return Reflect.getMetadata(nest().pathKey, target);
}

/** The `imports` of a module class's `@Module()`. */
export function moduleImports(module: object): unknown[] {
  return (Reflect.getMetadata(nest().importsKey, module) ?? []) as unknown[];
}

/** Custom parameter decorators' types are strings that may hold ':'; the index follows the last one. */
function paramType(param: string): string {
  return param.slice(0, param.lastIndexOf(':'));
}
