import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { AppModule } from '../src/app.module';

type Parameter = { name: string; in: string; required?: boolean; schema?: Record<string, unknown> };
type Response = {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema: Record<string, unknown> }>;
};

const STATUSES = ['200', '304', '400', '403', '404', '422', '502', '503', '504'];

describe('OpenAPI document of the example app', () => {
  let app: INestApplication;
  let document: OpenAPIObject;
  const savedRedisUrl = process.env.REDIS_URL;

  beforeAll(async () => {
    delete process.env.REDIS_URL; // the in-memory cache: no Redis needed
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    await app.init();
    document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
  });

  afterAll(async () => {
    await app?.close();
    if (savedRedisUrl !== undefined) process.env.REDIS_URL = savedRedisUrl;
  });

  const operation = (path: string) =>
    document.paths[path]?.get as
      { parameters?: Parameter[]; responses: Record<string, Response> } | undefined;

  it('documents the negotiated, preset route fully', () => {
    const logo = operation('/assets/{slug}/logo');
    expect(logo).toBeDefined();

    const params = Object.fromEntries(
      (logo?.parameters ?? []).map((param) => [`${param.in}:${param.name}`, param]),
    );
    expect(Object.keys(params).sort()).toEqual([
      'path:slug',
      'query:placeholder',
      'query:preset',
      'query:redraw',
      'query:w',
    ]);
    expect(params['query:w']).toMatchObject({
      required: false,
      schema: { type: 'integer', enum: [128, 256] },
    });
    expect(params['query:preset']).toMatchObject({
      required: false,
      schema: { type: 'string', enum: ['small', 'large'] },
    });
    expect(params['query:redraw']).toMatchObject({
      required: false,
      description: expect.stringContaining('allowRedraw'),
    });

    const responses = logo?.responses ?? {};
    expect(Object.keys(responses).sort()).toEqual(STATUSES);
    for (const status of STATUSES) expect(responses[status].description).toMatch(/\w/);
    const ok = responses['200'];
    expect(Object.keys(ok.content ?? {}).sort()).toEqual([
      'application/json',
      'image/avif',
      'image/jpeg',
      'image/png',
      'image/webp',
    ]);
    for (const [type, media] of Object.entries(ok.content ?? {})) {
      if (type === 'application/json') {
        expect(media.schema).toMatchObject({ type: 'object', properties: { dataUrl: { type: 'string' } } });
      } else {
        expect(media.schema).toEqual({ type: 'string', format: 'binary' });
      }
    }
    expect(ok.headers).toHaveProperty('Vary');
    expect(responses['304'].content).toBeUndefined();
    expect(responses['503'].description).toContain('Retry-After');
    expect(responses['503'].headers).toHaveProperty('Retry-After');
    expect(Object.keys(responses['404'].content ?? {})).toEqual(['application/json']);
  });

  it('documents a fixed-format route with its one content type and no size parameters', () => {
    const small = operation('/assets/{slug}/logo_small.png');
    expect(small).toBeDefined();
    expect((small?.parameters ?? []).map((param) => `${param.in}:${param.name}`).sort()).toEqual([
      'path:slug',
      'query:redraw',
    ]);
    expect(Object.keys(small?.responses['200'].content ?? {})).toEqual(['image/png']);
    expect(small?.responses['200'].headers).not.toHaveProperty('Vary');
    expect(Object.keys(small?.responses ?? {}).sort()).toEqual(STATUSES);
  });

  it('leaves the routes without @ResizedImage() alone', () => {
    const original = operation('/originals/{name}');
    expect(original).toBeDefined();
    expect((original?.parameters ?? []).map((param) => param.name)).toEqual(['name']);
    expect(Object.keys(original?.responses ?? {})).toEqual(['200']);
  });
});
