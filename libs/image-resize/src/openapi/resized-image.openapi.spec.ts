import 'reflect-metadata';
import { Get } from '@nestjs/common';
import { DECORATORS } from '@nestjs/swagger';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { EXPIRY_PARAM, SIGNATURE_PARAM } from '../signing/url-signer';
import { documentResizedImageRoute } from './resized-image.openapi';

type Param = {
  name: string;
  in: string;
  required: boolean;
  description: string;
  schema: Record<string, unknown>;
};
type Responses = Record<string, { description: string; content?: Record<string, unknown> }>;

/** A route method as Nest sees it, documented by `document` with `spec`. */
function documentedRoute(
  spec: ResizedImageOptions,
  document: typeof documentResizedImageRoute = documentResizedImageRoute,
  before?: (descriptor: PropertyDescriptor) => void,
) {
  class Controller {
    logo(): string {
      return 'source';
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(Controller.prototype, 'logo')!;
  Get('logo')(Controller.prototype, 'logo', descriptor);
  before?.(descriptor);
  document(Controller.prototype, 'logo', descriptor, spec);
  const handler = descriptor.value as object;
  return {
    descriptor,
    handler,
    params: (Reflect.getMetadata(DECORATORS.API_PARAMETERS, handler) ?? []) as Param[],
    produces: Reflect.getMetadata(DECORATORS.API_PRODUCES, handler) as string[] | undefined,
    responses: (Reflect.getMetadata(DECORATORS.API_RESPONSE, handler) ?? {}) as Responses,
  };
}

const byName = (params: Param[]) => Object.fromEntries(params.map((param) => [param.name, param]));

describe('documentResizedImageRoute without @nestjs/swagger', () => {
  it('leaves the route untouched', () => {
    const spec: ResizedImageOptions = { signed: true, presets: { small: { width: 8, height: 8 } } };
    let loadable = true;
    let keysBefore: unknown[] = [];
    let valueBefore: unknown;
    let route!: ReturnType<typeof documentedRoute>;
    jest.isolateModules(() => {
      jest.doMock('@nestjs/swagger', () => {
        throw Object.assign(new Error("Cannot find module '@nestjs/swagger'"), { code: 'MODULE_NOT_FOUND' });
      });
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('@nestjs/swagger');
      } catch {
        loadable = false;
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const isolated = require('./resized-image.openapi') as {
        documentResizedImageRoute: typeof documentResizedImageRoute;
      };
      route = documentedRoute(spec, isolated.documentResizedImageRoute, (descriptor) => {
        keysBefore = Reflect.getOwnMetadataKeys(descriptor.value);
        valueBefore = descriptor.value;
      });
    });
    jest.dontMock('@nestjs/swagger');
    expect(loadable).toBe(false);
    expect(route.descriptor.value).toBe(valueBefore);
    expect(Reflect.getOwnMetadataKeys(route.handler)).toEqual(keysBefore);
    expect(route.params).toEqual([]);
    expect(route.produces).toBeUndefined();
    expect(route.responses).toEqual({});

    // The same call with the package present documents the route: the check above is not vacuous.
    expect(documentedRoute(spec).params.length).toBeGreaterThan(0);
  });
});

describe('documentResizedImageRoute', () => {
  it('documents the signed parameters of a signed route, and only those', () => {
    const { params, produces } = documentedRoute({
      signed: true,
      width: 256,
      height: 256,
      format: 'webp',
      presets: { small: { width: 64, height: 64 } },
      widths: [128],
    });
    expect(params.map((param) => param.name)).toEqual([
      'w',
      'h',
      'format',
      'q',
      'fit',
      'dpr',
      EXPIRY_PARAM,
      SIGNATURE_PARAM,
      'redraw',
    ]);
    const named = byName(params);
    expect(params.every((param) => param.in === 'query')).toBe(true);
    expect(named[SIGNATURE_PARAM].required).toBe(true);
    expect(named.w).toMatchObject({ required: false, schema: { type: 'integer', minimum: 1 } });
    expect(named.format.schema.enum).toEqual(['png', 'jpeg', 'webp', 'avif', 'auto']);
    expect(named.fit.schema.enum).toEqual(['inside', 'cover', 'contain', 'fill', 'outside']);
    expect(named.q.schema).toMatchObject({ minimum: 1, maximum: 100 });
    expect(named.dpr.schema).toMatchObject({ type: 'number', minimum: 1, maximum: 3 });
    expect(named[EXPIRY_PARAM]).toMatchObject({ required: false, schema: { type: 'integer', minimum: 0 } });
    expect(named[EXPIRY_PARAM].description).toMatch(/unix seconds.*403/i);
    // A signed query may pick any format.
    expect(produces).toEqual(['image/png', 'image/jpeg', 'image/webp', 'image/avif']);
  });

  it('requires w and h on a signed route without a size of its own', () => {
    const named = byName(documentedRoute({ signed: true }).params);
    expect([named.w.required, named.h.required]).toEqual([true, true]);
  });

  it('documents presets and widths as enums, and redraw on every route', () => {
    const { params } = documentedRoute({
      width: 256,
      height: 128,
      presets: { small: { width: 64, height: 64 }, large: { width: 512, height: 512 } },
      widths: [128, 256],
    });
    const named = byName(params);
    expect(Object.keys(named)).toEqual(['preset', 'w', 'redraw']);
    expect(named.preset).toMatchObject({ required: false, schema: { enum: ['small', 'large'] } });
    expect(named.w).toMatchObject({ required: false, schema: { type: 'integer', enum: [128, 256] } });
    expect(named.redraw.required).toBe(false);
    expect(named.redraw).toHaveProperty('description', expect.stringContaining('allowRedraw'));
    expect(byName(documentedRoute({ presets: { a: { width: 1, height: 1 } } }).params).preset.required).toBe(
      true,
    );
    expect(documentedRoute({ width: 1, height: 1 }).params.map((param) => param.name)).toEqual(['redraw']);
  });

  it.each<[ResizedImageOptions, string[]]>([
    [{ width: 1, height: 1, format: 'jpeg' }, ['image/jpeg']],
    [{ width: 1, height: 1 }, ['image/png']],
    [{ width: 1, height: 1, format: 'auto' }, ['image/png', 'image/jpeg', 'image/webp', 'image/avif']],
    [{ width: 1, height: 1, format: 'auto', fallback: 'jpeg' }, ['image/jpeg', 'image/webp', 'image/avif']],
    [
      { width: 1, height: 1, format: 'png', presets: { big: { format: 'webp' } } },
      ['image/png', 'image/webp'],
    ],
  ])('lists the content types of %j', (spec, types) => {
    const { produces, responses } = documentedRoute(spec);
    expect(produces).toEqual(types);
    expect(Object.keys(responses['200'].content ?? {})).toEqual(types);
  });

  it('documents every status a decorated route answers', () => {
    const { responses } = documentedRoute({ width: 1, height: 1 });
    expect(Object.keys(responses)).toEqual(['200', '304', '400', '403', '404', '422', '502', '503', '504']);
    expect(responses['503'].description).toContain('Retry-After');
    expect(responses['304'].content).toBeUndefined();
  });

  it('keeps what the route already documents', () => {
    const { params, responses, produces } = documentedRoute(
      { width: 1, height: 1, format: 'png', presets: { small: { width: 1, height: 1 } } },
      documentResizedImageRoute,
      (descriptor) => {
        Reflect.defineMetadata(
          DECORATORS.API_PARAMETERS,
          [{ name: 'preset', in: 'query', required: true, description: 'mine' }],
          descriptor.value,
        );
        Reflect.defineMetadata(
          DECORATORS.API_RESPONSE,
          { 404: { description: 'No such logo' } },
          descriptor.value,
        );
        Reflect.defineMetadata(DECORATORS.API_PRODUCES, ['image/png'], descriptor.value);
      },
    );
    expect(params.filter((param) => param.name === 'preset')).toEqual([
      { name: 'preset', in: 'query', required: true, description: 'mine' },
    ]);
    expect(responses['404'].description).toBe('No such logo');
    expect(produces).toEqual(['image/png']);
  });
});
