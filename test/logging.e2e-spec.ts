import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  type LoggerService,
  type NestInterceptor,
  Query,
} from '@nestjs/common';
import { APP_INTERCEPTOR, Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  type ImageResizeEvent,
  ImageResizeMetrics,
  ImageResizeModule,
  ImageResizeService,
  RESIZED_IMAGE_METADATA,
  ResizedImage,
} from 'nestjs-image-resize';
import { of } from 'rxjs';
import request from 'supertest';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { freePort } from './support/redis-server';

/** Every line the app logs, at every level. */
class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  private record(level: string) {
    // Nest passes the context last (error() puts a stack before it).
    return (message: unknown, ...params: unknown[]) => {
      const context = params.at(-1);
      this.lines.push({
        level,
        message: String(message),
        context: typeof context === 'string' ? context : undefined,
      });
    };
  }
  log = this.record('log');
  error = this.record('error');
  warn = this.record('warn');
  debug = this.record('debug');
  verbose = this.record('verbose');
}

@Controller()
class LogoController {
  @Get('logo')
  @ResizedImage({ width: 32, height: 32 })
  logo(@Query('url') url: string, @Query('key') cacheKey: string) {
    return { url, cacheKey };
  }

  @Get('signed')
  @ResizedImage({ signed: true })
  signed() {
    return { url: 'http://127.0.0.1:1/never', cacheKey: 'signed_logo' };
  }

  @Get('sized')
  @ResizedImage({ width: 32, height: 32, widths: [16, 32], presets: { small: { width: 16, height: 16 } } })
  sized(@Query('url') url: string) {
    return { url, cacheKey: 'logo_sized' };
  }

  @Get('nothing')
  @ResizedImage({ width: 32, height: 32 })
  nothing() {
    return null;
  }
}

/** An IPv4 address anywhere, or `:<port>` of one of the ports the test used. */
function expectNoAddressOrPort(text: string, ports: number[]): void {
  expect(text).not.toMatch(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/);
  expect(text).not.toMatch(/\[?::1\]?/);
  for (const port of ports) {
    expect(text).not.toContain(`:${port}`);
    expect(text).not.toMatch(new RegExp(`\\b${port}\\b`));
  }
}

describe('logging', () => {
  let app: INestApplication;
  let origin: TestOrigin;
  const logger = new RecordingLogger();

  beforeAll(async () => {
    origin = await startOrigin({
      '/logo.png': { contentType: 'image/png', body: await transparentPng() },
      '/silent': () => undefined, // never answers
    });
    const moduleRef = await Test.createTestingModule({
      imports: [
        ImageResizeModule.forRoot({
          sources: { allowPrivateNetworks: ['127.0.0.1'] },
          signing: { keys: ['logging-test-key-0123456789-0123456789'] },
          fetchTimeoutMs: 500,
        }),
      ],
      controllers: [LogoController],
    }).compile();
    app = moduleRef.createNestApplication({ logger });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await origin.close();
  });

  it('logs a miss at debug and a failure at warn with the cacheKey, never credentials or signatures', async () => {
    const withCredentials = origin.url.replace('http://', 'http://admin:s3cr3t-pass@');
    expect(
      (
        await request(app.getHttpServer())
          .get('/logo')
          .query({ url: `${withCredentials}/logo.png`, key: 'logo_acme' })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(app.getHttpServer())
          .get('/logo')
          .query({ url: `${withCredentials}/missing.png`, key: 'logo_gone' })
      ).status,
    ).toBe(404);
    const forged = app.get(ImageResizeService).signUrl('/signed', { w: 10, h: 10 }).replace('w=10', 'w=11');
    expect((await request(app.getHttpServer()).get(forged)).status).toBe(403);

    const ours = () => logger.lines.filter((line) => line.context === 'ImageResize');
    expect(ours()).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        message: expect.stringMatching(/^MISS image_resize_logo_acme_32_32_png/),
      }),
    );
    expect(ours()).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'Could not serve image logo_gone: 404 Image source not found',
      }),
    );
    // A valid signature for a size past the limit: refused before the handler, and still counted.
    const tooWide = app.get(ImageResizeService).signUrl('/signed', { w: 5000, h: 10 });
    expect((await request(app.getHttpServer()).get(tooWide)).status).toBe(400);
    expect(ours()).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message:
          'Could not serve image (before its source was known): 400 width must be an integer from 1 to 4096 (got the number 5000)',
      }),
    );
    const everything = JSON.stringify(logger.lines);
    expect(everything).not.toContain('s3cr3t-pass');
    expect(everything).not.toContain('admin:');
    expect(everything).not.toContain(new URL(forged, 'http://x').searchParams.get('sig'));
  });

  it('logs why a fetch failed, with the cacheKey, and a refused host name at debug: never an address or a port', async () => {
    const originPort = Number(new URL(origin.url).port);
    const closedPort = await freePort();
    const server = app.getHttpServer();
    const get = (url: string, key: string) => request(server).get('/logo').query({ url, key });
    expect((await get(`http://127.0.0.1:${closedPort}/logo.png`, 'logo_refused')).status).toBe(502);
    expect((await get(`${origin.url.replace('http:', 'https:')}/logo.png`, 'logo_tls')).status).toBe(502);
    expect((await get(`${origin.url}/silent`, 'logo_slow')).status).toBe(504);
    // localhost is loopback, allowed here for 127.0.0.1 only: refused at lookup, by name.
    expect((await get(`http://localhost:${originPort}/logo.png`, 'logo_local')).status).toBe(403);
    // A private literal address is refused before any connection is tried.
    expect((await get('http://10.0.0.5/logo.png', 'logo_private')).status).toBe(403);

    const ours = () => logger.lines.filter((line) => line.context === 'ImageResize');
    expect(ours()).toEqual(
      expect.arrayContaining([
        {
          level: 'error',
          context: 'ImageResize',
          message:
            'Could not serve image logo_refused: 502 Image source could not be fetched; cause: connection refused (ECONNREFUSED)',
        },
        {
          level: 'error',
          context: 'ImageResize',
          message:
            'Could not serve image logo_tls: 502 Image source could not be fetched; cause: TLS handshake failed: wrong version number (EPROTO)',
        },
        {
          level: 'error',
          context: 'ImageResize',
          message:
            'Could not serve image logo_slow: 504 Image source timed out; cause: no complete response within 500 ms (fetchTimeoutMs)',
        },
        {
          level: 'warn',
          context: 'ImageResize',
          message: 'Could not serve image logo_local: 403 Image source address is not allowed',
        },
        {
          level: 'debug',
          context: 'ImageResize',
          message: 'Refused the source host "localhost" of logo_local: Image source address is not allowed',
        },
      ]),
    );
    // The host name is for debug only.
    const named = ours().filter((line) => line.message.includes('localhost'));
    expect(named.map((line) => line.level)).toEqual(['debug']);
    expectNoAddressOrPort(JSON.stringify(logger.lines), [originPort, closedPort]);
  });

  it('names a source without a cacheKey by the key derived from it, and an address literal it refused by its kind', async () => {
    const closedPort = await freePort();
    const url = `http://127.0.0.1:${closedPort}/unnamed.png`;
    expect((await request(app.getHttpServer()).get('/logo').query({ url })).status).toBe(502);
    expect(
      (await request(app.getHttpServer()).get('/logo').query({ url: 'http://10.0.0.5/x.png' })).status,
    ).toBe(403);
    const messages = logger.lines
      .filter((line) => line.context === 'ImageResize')
      .map((line) => line.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^Could not serve image url~[0-9a-f]{40} \(derived from its URL\): 502 Image source could not be fetched; cause: connection refused/,
        ),
        expect.stringMatching(
          /^Refused an IP address literal as the source host of url~[0-9a-f]{40} \(derived from its URL\)/,
        ),
      ]),
    );
    expectNoAddressOrPort(JSON.stringify(logger.lines), [closedPort]);
  });

  it('counts and logs at debug a size the route does not offer (400) and a null source (404)', async () => {
    const events: ImageResizeEvent[] = [];
    const unsubscribe = app.get(ImageResizeMetrics).subscribe((event) => events.push(event));
    const server = app.getHttpServer();
    try {
      expect((await request(server).get('/sized').query({ preset: 'huge' })).status).toBe(400);
      expect((await request(server).get('/sized').query({ w: 999 })).status).toBe(400);
      expect((await request(server).get('/nothing')).status).toBe(404);
    } finally {
      unsubscribe();
    }
    expect(events).toEqual([
      { type: 'failed', status: 400, reason: '?preset must be one of small (got a string "huge")' },
      { type: 'failed', status: 400, reason: '?w must be one of 16, 32 (got the number 999)' },
      { type: 'failed', status: 404, reason: 'Image not found' },
    ]);
    const about = (text: string) =>
      logger.lines.filter((line) => line.context === 'ImageResize' && line.message.includes(text));
    expect(about('?preset must be one of small')).toEqual([
      {
        level: 'debug',
        context: 'ImageResize',
        message: 'Refused GET /sized: 400 ?preset must be one of small (got a string "huge")',
      },
    ]);
    expect(about('?w must be one of 16, 32')).toEqual([
      expect.objectContaining({
        level: 'debug',
        message: 'Refused GET /sized: 400 ?w must be one of 16, 32 (got the number 999)',
      }),
    ]);
    expect(about('/nothing')).toEqual([
      expect.objectContaining({
        level: 'debug',
        message: 'No image for GET /nothing: 404 the handler returned null',
      }),
    ]);
  });
});

describe('logging of a Redis outage', () => {
  it('logs the kind of error, never the address and port of the Redis server', async () => {
    const logger = new RecordingLogger();
    const port = await freePort(); // nothing listens there
    // The client connects while the module is compiled: the logger is set before that.
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ redis: `redis://127.0.0.1:${port}` })],
    })
      .setLogger(logger)
      .compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.init();
    try {
      const ours = logger.lines.filter((line) => line.context === 'ImageResize');
      expect(ours).toContainEqual({
        level: 'warn',
        context: 'ImageResize',
        message:
          'Redis unavailable, serving images without the cache (network): connection refused (ECONNREFUSED)',
      });
      expectNoAddressOrPort(JSON.stringify(logger.lines), [port]);
    } finally {
      await app.close();
    }
  });
});

/** An app-wide interceptor that answers from elsewhere (a cache, a feature flag) without calling the handler. */
@Injectable()
class AnswersItself implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}
  static skipResizedImages = false;

  intercept(context: ExecutionContext, next: CallHandler) {
    // The fix: leave @ResizedImage() routes alone, they write their response themselves.
    if (AnswersItself.skipResizedImages && this.reflector.get(RESIZED_IMAGE_METADATA, context.getHandler())) {
      return next.handle();
    }
    return of({ answered: 'by the interceptor' });
  }
}

@Controller()
class BufferController {
  calls = 0;

  @Get('buffer')
  @ResizedImage({ width: 16, height: 16 })
  async image() {
    this.calls += 1;
    return transparentPng();
  }
}

/** GET `path`: the status, or `'no answer'` when nothing came back before the bounded wait ran out. */
function statusWithin(port: number, path: string, waitMs: number): Promise<number | 'no answer'> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, signal: AbortSignal.timeout(waitMs) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      error.name === 'AbortError' ? resolve('no answer') : reject(error),
    );
    req.end();
  });
}

describe('an app-wide interceptor that answers without calling the handler', () => {
  it('leaves a @ResizedImage() request without an answer, and logs nothing; skipping such routes fixes it', async () => {
    const logger = new RecordingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({})],
      controllers: [BufferController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: AnswersItself }],
    }).compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const controller = app.get(BufferController);
    try {
      AnswersItself.skipResizedImages = false;
      // The route carries Nest's @Res(), so Nest does not send what the interceptor returns: nothing is
      // sent at all, and the server has no response timeout. The wait is bounded here, not in the app.
      expect(await statusWithin(port, '/buffer', 500)).toBe('no answer');
      expect(controller.calls).toBe(0);
      expect(logger.lines.filter((line) => line.context === 'ImageResize')).toEqual([]);

      AnswersItself.skipResizedImages = true;
      expect(await statusWithin(port, '/buffer', 10_000)).toBe(200);
      expect(controller.calls).toBe(1);
    } finally {
      AnswersItself.skipResizedImages = false;
      await app.close();
    }
  });
});
