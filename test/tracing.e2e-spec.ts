import type { ServerResponse } from 'node:http';
import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ImageResizeService,
  ResizedImage,
} from 'nestjs-image-resize';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import type { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN } from './support/test-app';
import { until } from './support/until';

/**
 * With `@opentelemetry/api` installed, a request's trace shows the pipeline's steps as children of its
 * HTTP span: the lookup (and which tier answered), the wait for a miss made elsewhere, the fetch, the
 * resize and the store. Spans go to the SDK's in-memory exporter; the HTTP span is made here, around
 * each request, as an HTTP instrumentation makes it (a server span, active while the request is handled).
 *
 * `TRACE_TREE=1 npx jest test/tracing.e2e-spec.ts` prints a miss's trace, a hit's, and a wait's as trees.
 */

/** What must never reach a span: the URL's credentials, path and query. */
const USER = 'tracing-user';
const PASSWORD = 'tracing-secret';
const TOKEN = 'query-token-42';
/** How long the slow original takes, so that a second request comes while the first is being made. */
const SLOW_MS = 400;

let origin: TestOrigin;
let logo: Buffer;
/** Started first: the client that waited for it to answer leaves a 2 s timer behind (ioredis's disconnect). */
let redis: PrivateRedis;

/** The original's URL, with credentials and a query string, as an application might have it stored. */
const originalUrl = (name: string) => {
  const { host } = new URL(origin.url);
  return `http://${USER}:${PASSWORD}@${host}/${name}?token=${TOKEN}`;
};

@Controller()
class LogoController {
  @Get('logo/:name')
  @ResizedImage({ width: 96, height: 96, format: 'png' })
  logo(@Param('name') name: string) {
    return { url: originalUrl(name), cacheKey: `logo_${name.replace(/\W/g, '_')}` };
  }
}

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

/**
 * What an HTTP instrumentation does for each request: a server span, active while the request is
 * handled, ended when the response is finished. Its name carries the request's path, for the test.
 */
function httpSpans(req: Request, res: Response, next: NextFunction): void {
  const span = trace.getTracer('test-http').startSpan(`GET ${req.path}`, { kind: SpanKind.SERVER });
  (res as ServerResponse).once('finish', () => span.end());
  context.with(trace.setSpan(context.active(), span), next);
}

async function startApp(options: ImageResizeModuleRootOptions = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN, ...options })],
    controllers: [LogoController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.use(httpSpans);
  await app.init();
  return app;
}

const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer()).get(path).buffer(true).parse(binary);

/** The spans of the trace whose root is the HTTP span of `path` (the last request for it). */
function traceOf(path: string): ReadableSpan[] {
  const spans = exporter.getFinishedSpans();
  const root = spans.filter((span) => span.name === `GET ${path}`).at(-1);
  if (!root) throw new Error(`no HTTP span for ${path}`);
  const { traceId } = root.spanContext();
  return spans.filter((span) => span.spanContext().traceId === traceId);
}

/** The trace of `path`, once its HTTP span and the spans named `names` have ended. */
async function finishedTrace(path: string, names: string[]): Promise<ReadableSpan[]> {
  await until(`the trace of ${path} has ended`, () => {
    try {
      const names_ = traceOf(path).map((span) => span.name);
      return names.every((name) => names_.includes(name));
    } catch {
      return false;
    }
  });
  return traceOf(path);
}

const named = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name);
const one = (spans: ReadableSpan[], name: string) => {
  const found = named(spans, name);
  if (found.length !== 1) throw new Error(`${found.length} spans ${name}`);
  return found[0];
};
const ms = (span: ReadableSpan) => span.duration[0] * 1000 + span.duration[1] / 1e6;

/** The spans of a trace as a tree of names with their durations, children in the order they started. */
function treeOf(spans: ReadableSpan[]): string {
  const ids = new Set(spans.map((span) => span.spanContext().spanId));
  const children = (parent: string | undefined) =>
    spans
      .filter((span) => {
        const id = span.parentSpanContext?.spanId;
        return parent === undefined ? id === undefined || !ids.has(id) : id === parent;
      })
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
  const lines: string[] = [];
  const walk = (span: ReadableSpan, depth: number) => {
    const attributes = Object.entries(span.attributes)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ');
    const error = span.status.code === SpanStatusCode.ERROR ? ' ERROR' : '';
    lines.push(
      `${'  '.repeat(depth)}${span.name} ${ms(span).toFixed(1)} ms${error}  ${attributes}`.trimEnd(),
    );
    for (const child of children(span.spanContext().spanId)) walk(child, depth + 1);
  };
  for (const root of children(undefined)) walk(root, 0);
  return lines.join('\n');
}

function printTree(title: string, spans: ReadableSpan[]): void {
  if (process.env.TRACE_TREE) process.stdout.write(`\n${title}\n${treeOf(spans)}\n`);
}

/** Checks that every span of `spans` is a child of the HTTP span, which is the trace's root. */
function expectChildrenOfHttpSpan(spans: ReadableSpan[], path: string): ReadableSpan {
  const http = one(spans, `GET ${path}`);
  expect(http.parentSpanContext).toBeUndefined();
  for (const span of spans.filter((span) => span !== http)) {
    expect([span.name, span.parentSpanContext?.spanId]).toEqual([span.name, http.spanContext().spanId]);
  }
  return http;
}

/** Everything a trace says, as text: names, attributes, events, statuses. */
const everything = (spans: ReadableSpan[]) =>
  JSON.stringify(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events,
      status: span.status,
    })),
  );

beforeAll(async () => {
  redis = await startPrivateRedis();
  logo = await transparentPng();
  const slow = (_req: unknown, res: ServerResponse) =>
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'image/png' }).end(logo), SLOW_MS);
  origin = await startOrigin({
    '/logo.png': { contentType: 'image/png', body: logo },
    '/broken.png': { status: 500, body: 'upstream failure' },
    '/slow.png': slow,
    '/slow-shared.png': slow,
    '/slow-redis.png': slow,
  });
});
afterAll(async () => {
  await origin.close();
  await redis.stop();
});

describe('with @opentelemetry/api and no SDK registered', () => {
  it('serves misses and hits as before, and nothing is exported', async () => {
    const app = await startApp();
    try {
      const miss = await get(app, '/logo/logo.png');
      const hit = await get(app, '/logo/logo.png');
      expect([miss.status, miss.headers['x-cache'], hit.status, hit.headers['x-cache']]).toEqual([
        200,
        'MISS',
        200,
        'HIT',
      ]);
      expect(hit.body.equals(miss.body)).toBe(true);
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('with an OpenTelemetry SDK', () => {
  let app: INestApplication;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(provider);
    app = await startApp();
  });
  afterAll(async () => {
    await app.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  it('traces a miss: lookup, fetch, resize and store, children of the HTTP span', async () => {
    const res = await get(app, '/logo/logo.png?v=1');
    expect([res.status, res.headers['x-cache']]).toEqual([200, 'MISS']);
    const spans = await finishedTrace('/logo/logo.png', [
      'image_resize.lookup',
      'image_resize.fetch',
      'image_resize.resize',
      'image_resize.store',
    ]);
    printTree('A miss (in-memory cache):', spans);
    expectChildrenOfHttpSpan(spans, '/logo/logo.png');
    expect(spans.map((span) => span.name).sort()).toEqual([
      'GET /logo/logo.png',
      'image_resize.fetch',
      'image_resize.lookup',
      'image_resize.resize',
      'image_resize.store',
    ]);
    for (const span of spans) {
      if (span.name.startsWith('image_resize.')) {
        expect(span.instrumentationScope.name).toBe('nestjs-image-resize');
        expect(span.instrumentationScope.version).toMatch(/^\d+\.\d+\.\d+/);
        expect(span.status.code).toBe(SpanStatusCode.UNSET);
      }
    }
    expect(one(spans, 'image_resize.lookup').attributes).toEqual({ 'image_resize.tier': 'none' });
    expect(one(spans, 'image_resize.fetch').attributes).toEqual({
      'image_resize.source.kind': 'url',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
      'image_resize.source.bytes': logo.length,
    });
    expect(one(spans, 'image_resize.resize').attributes).toEqual({
      'image_resize.source.bytes': logo.length,
      'image_resize.queue.wait_ms': expect.any(Number),
      'image_resize.output.bytes': res.body.length,
      'image_resize.output.format': 'png',
      'image_resize.output.width': 96,
      'image_resize.output.height': 48,
    });
    expect(one(spans, 'image_resize.store').attributes).toEqual({
      'image_resize.output.bytes': res.body.length,
      'image_resize.ttl': expect.any(Number),
    });
    // In the order the pipeline runs them.
    const order = ['image_resize.lookup', 'image_resize.fetch', 'image_resize.resize', 'image_resize.store'];
    const starts = order.map((name) => one(spans, name).startTime);
    const sorted = [...starts].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(starts).toEqual(sorted);
  });

  it('never records the URL of the original: neither its credentials, nor its path, nor its query', async () => {
    await get(app, '/logo/broken.png');
    const spans = [...traceOf('/logo/logo.png'), ...traceOf('/logo/broken.png')];
    const library = everything(spans.filter((span) => span.name.startsWith('image_resize.')));
    for (const secret of [USER, PASSWORD, TOKEN, 'token', 'logo.png', 'broken.png', origin.url, '@']) {
      expect([secret, library.includes(secret)]).toEqual([secret, false]);
    }
    expect(library).toContain('"server.address":"127.0.0.1"');
  });

  it('records a failed fetch as an error: the status of the origin, the error, no stack', async () => {
    const spans = traceOf('/logo/broken.png');
    printTree('A failed fetch:', spans);
    expectChildrenOfHttpSpan(spans, '/logo/broken.png');
    const fetch = one(spans, 'image_resize.fetch');
    expect(fetch.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'Image source answered with status 500',
    });
    expect(fetch.attributes).toEqual({
      'image_resize.source.kind': 'url',
      'server.address': '127.0.0.1',
      'http.response.status_code': 500,
      'error.type': 'UpstreamError',
      'image_resize.error.status': 502,
    });
    expect(fetch.events.map((event) => [event.name, event.attributes])).toEqual([
      [
        'exception',
        { 'exception.type': 'UpstreamError', 'exception.message': 'Image source answered with status 500' },
      ],
    ]);
    expect(named(spans, 'image_resize.resize')).toEqual([]);
  });

  it('traces a hit: one lookup, which names the tier that answered', async () => {
    exporter.reset();
    const res = await get(app, '/logo/logo.png');
    expect(res.headers['x-cache']).toBe('HIT');
    const spans = await finishedTrace('/logo/logo.png', ['image_resize.lookup']);
    printTree('A hit (in-memory cache):', spans);
    expectChildrenOfHttpSpan(spans, '/logo/logo.png');
    expect(spans.map((span) => span.name).sort()).toEqual(['GET /logo/logo.png', 'image_resize.lookup']);
    expect(one(spans, 'image_resize.lookup').attributes).toEqual({ 'image_resize.tier': 'memory' });
  });

  it('traces the wait of a request for a miss that another request of this instance is making', async () => {
    const server = app.getHttpServer();
    const first = request(server).get('/logo/slow-shared.png').buffer(true).parse(binary);
    const second = request(server).get('/logo/slow-shared.png?second').buffer(true).parse(binary);
    const [a, b] = await Promise.all([first, second]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await until(
      'both traces have ended',
      () => named(exporter.getFinishedSpans(), 'GET /logo/slow-shared.png').length === 2,
    );
    const waits = named(exporter.getFinishedSpans(), 'image_resize.wait').filter(
      (span) => span.attributes['image_resize.wait.on'] === 'same_instance',
    );
    expect(waits).toHaveLength(1);
    const spans = exporter
      .getFinishedSpans()
      .filter((span) => span.spanContext().traceId === waits[0].spanContext().traceId);
    printTree('A request waiting for a miss made by another request of this instance:', spans);
    expectChildrenOfHttpSpan(spans, '/logo/slow-shared.png');
    expect(spans.map((span) => span.name).sort()).toEqual([
      'GET /logo/slow-shared.png',
      'image_resize.lookup',
      'image_resize.wait',
    ]);
    expect(waits[0].attributes).toEqual({
      'image_resize.wait.on': 'same_instance',
      'image_resize.wait.outcome': 'found',
    });
    expect(ms(waits[0])).toBeGreaterThan(SLOW_MS / 2);
  });

  it('traces services called outside any request: their spans are roots', async () => {
    exporter.reset();
    const service = app.get(ImageResizeService);
    await service.resize(logo, { width: 20, height: 20, format: 'webp' });
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name).sort()).toEqual([
      'image_resize.fetch',
      'image_resize.lookup',
      'image_resize.resize',
      'image_resize.store',
    ]);
    for (const span of spans) expect(span.parentSpanContext).toBeUndefined();
    expect(one(spans, 'image_resize.fetch').attributes).toEqual({
      'image_resize.source.kind': 'buffer',
      'image_resize.source.bytes': logo.length,
    });
  });

  describe('instances sharing Redis', () => {
    let first: INestApplication;
    let second: INestApplication;
    const tierOf = (instance: INestApplication) =>
      instance.get<RedisImageCache>(IMAGE_RESIZE_CACHE).hot as HotImageTier;

    beforeAll(async () => {
      first = await startApp({ redis: redis.url, keyPrefix: 'tracing_' });
      second = await startApp({ redis: redis.url, keyPrefix: 'tracing_' });
      await until('hot tiers subscribed', () => tierOf(first).active && tierOf(second).active);
    });
    afterAll(async () => {
      await Promise.all([first?.close(), second?.close()]);
    });

    it('names the tier of a hit: Redis, then the hot tier in front of it', async () => {
      expect((await get(first, '/logo/logo.png')).headers['x-cache']).toBe('MISS');
      const tiers: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        exporter.reset();
        expect((await get(second, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
        const spans = await finishedTrace('/logo/logo.png', ['image_resize.lookup']);
        expectChildrenOfHttpSpan(spans, '/logo/logo.png');
        tiers.push(one(spans, 'image_resize.lookup').attributes['image_resize.tier']);
      }
      expect(tiers).toEqual(['redis', 'hot']);
    });

    it('traces the wait for another instance that holds the lock of the variant', async () => {
      exporter.reset();
      origin.hits.clear();
      // Sent now (supertest sends a request once it is awaited or then'd).
      const making = get(first, '/logo/slow-redis.png').then((res) => res);
      // The first instance holds the lock once it asks the origin.
      await until(
        'the first instance fetches',
        () => (origin.hits.get('/slow-redis.png') ?? 0) === 1,
        5000,
        5,
      );
      const waiting = await get(second, '/logo/slow-redis.png?waiting');
      const made = await making;
      expect([made.headers['x-cache'], waiting.headers['x-cache']]).toEqual(['MISS', 'HIT']);
      expect(origin.hits.get('/slow-redis.png')).toBe(1);

      const traces = await until(
        'both traces have ended',
        () => named(exporter.getFinishedSpans(), 'GET /logo/slow-redis.png').length === 2,
      ).then(() => named(exporter.getFinishedSpans(), 'GET /logo/slow-redis.png'));
      const [maker, waiter] = traces
        .map((http) =>
          exporter
            .getFinishedSpans()
            .filter((span) => span.spanContext().traceId === http.spanContext().traceId),
        )
        .sort((a, b) => named(a, 'image_resize.wait').length - named(b, 'image_resize.wait').length);
      printTree('The instance that makes the miss:', maker);
      printTree('The instance that waits for it:', waiter);
      expectChildrenOfHttpSpan(maker, '/logo/slow-redis.png');
      expectChildrenOfHttpSpan(waiter, '/logo/slow-redis.png');
      expect(maker.map((span) => span.name).sort()).toEqual([
        'GET /logo/slow-redis.png',
        'image_resize.fetch',
        'image_resize.lookup',
        'image_resize.resize',
        'image_resize.store',
      ]);
      expect(waiter.map((span) => span.name).sort()).toEqual([
        'GET /logo/slow-redis.png',
        'image_resize.lookup',
        'image_resize.wait',
      ]);
      expect(one(waiter, 'image_resize.lookup').attributes).toEqual({ 'image_resize.tier': 'none' });
      const wait = one(waiter, 'image_resize.wait');
      expect(wait.attributes).toEqual({
        'image_resize.wait.on': 'other_instance',
        'image_resize.wait.outcome': 'found',
      });
      expect(ms(wait)).toBeGreaterThan(SLOW_MS / 4);
    });

    it('names the outage tier when Redis is down and this instance made the image lately', async () => {
      await redis.kill();
      const cache = first.get<RedisImageCache>(IMAGE_RESIZE_CACHE);
      await until('the instance sees the outage', () => cache.client.status !== 'ready');
      const lookups: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        exporter.reset();
        expect((await get(first, '/logo/slow.png')).headers['x-cache']).toBe('BYPASS');
        const spans = await finishedTrace('/logo/slow.png', ['image_resize.lookup']);
        expectChildrenOfHttpSpan(spans, '/logo/slow.png');
        lookups.push(one(spans, 'image_resize.lookup').attributes);
      }
      expect(lookups).toEqual([
        { 'image_resize.tier': 'none', 'image_resize.cache.unavailable': true },
        { 'image_resize.tier': 'outage', 'image_resize.cache.unavailable': true },
      ]);
      // Redis back, so that the instances close their connections as usual.
      await redis.restart();
      await until('the instances are back', () =>
        [first, second].every(
          (instance) =>
            instance.get<RedisImageCache>(IMAGE_RESIZE_CACHE).client.status === 'ready' &&
            tierOf(instance).active,
        ),
      );
    });
  });
});

describe('without @opentelemetry/api', () => {
  afterAll(() => jest.dontMock('@opentelemetry/api'));

  it('makes no span and serves as before', async () => {
    await jest.isolateModulesAsync(async () => {
      jest.doMock('@opentelemetry/api', () => {
        throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), {
          code: 'MODULE_NOT_FOUND',
        });
      });
      const { tracing } = await import('../libs/image-resize/src/tracing/image-resize.tracing');
      expect(tracing).toBeUndefined();
      const isolated = await import('nestjs-image-resize');
      const { Test: IsolatedTest } = await import('@nestjs/testing');
      const moduleRef = await IsolatedTest.createTestingModule({
        imports: [isolated.ImageResizeModule.forRoot({})],
      }).compile();
      try {
        const service = moduleRef.get(isolated.ImageResizeService);
        const source = { buffer: logo, cacheKey: 'without_otel' };
        const spec = { width: 24, height: 24, format: 'png' as const };
        const miss = await service.resize(source, spec);
        const hit = await service.resize(source, spec);
        expect([miss.cacheStatus, hit.cacheStatus, hit.width]).toEqual(['MISS', 'HIT', 24]);
      } finally {
        await moduleRef.close();
      }
    });
  });
});
