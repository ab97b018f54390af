import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { type CanActivate, Controller, Get, Injectable, Param, UseGuards } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { photoJpeg, transparentPng } from './support/fixtures';
import { heavyPng } from './support/hostile-fixtures';

const SIGNING_KEY = 'fastify-signing-key-0123456789-0123456789';
let png: Buffer;
let jpeg: Buffer;
let heavy: Buffer;
let handlerCalls = 0;

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Controller()
class FastifyLogoController {
  @Get('logo/:name.png')
  @ResizedImage({ width: 100, height: 100, format: 'png' })
  logo(@Param('name') name: string) {
    handlerCalls++;
    if (name === 'none') return null;
    if (name === 'html') return Buffer.from('<!doctype html><html></html>');
    return { buffer: png, cacheKey: `fastify_${name}` };
  }

  @Get('auto/:name')
  @ResizedImage({ width: 64, height: 64, format: 'auto', presets: { small: { width: 32, height: 32 } } })
  auto(@Param('name') name: string) {
    handlerCalls++;
    return { buffer: jpeg, cacheKey: `fastify_auto_${name}` };
  }

  @Get('signed/:name')
  @ResizedImage({ signed: true, format: 'png' })
  signed(@Param('name') name: string) {
    return { buffer: png, cacheKey: `fastify_signed_${name}` };
  }

  @Get('heavy.png')
  @ResizedImage({ width: 800, height: 800, format: 'png' })
  heavy() {
    return { buffer: heavy, cacheKey: 'fastify_heavy' };
  }

  @Get('guarded.png')
  @UseGuards(DenyGuard)
  @ResizedImage({ width: 10, height: 10 })
  guarded() {
    handlerCalls++;
    return png;
  }
}

describe('@ResizedImage() on Fastify (@nestjs/platform-fastify)', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    [png, jpeg, heavy] = await Promise.all([transparentPng(), photoJpeg(), heavyPng(2500)]);
    app = await startApp({ allowRedraw: true, signing: { keys: [SIGNING_KEY] } });
  });
  afterAll(async () => app.close());
  beforeEach(() => (handlerCalls = 0));

  /** A request over a raw socket: the response's head, and how many bytes came after it. */
  async function raw(method: string, path: string, ...headers: string[]) {
    const server = app.getHttpServer();
    if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(port, '127.0.0.1', () =>
        socket.write(
          [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headers, '', ''].join(
            '\r\n',
          ),
        ),
      );
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    const end = bytes.indexOf('\r\n\r\n');
    return { head: bytes.subarray(0, end).toString('latin1'), body: bytes.length - end - 4 };
  }

  const get = (path: string, on = app) => request(on.getHttpServer()).get(path).buffer(true).parse(binary);

  async function startApp(options: Parameters<typeof ImageResizeModule.forRoot>[0]) {
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot(options)],
      controllers: [FastifyLogoController],
    }).compile();
    const started = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
      logger: false,
    });
    await started.init();
    await started.getHttpAdapter().getInstance().ready();
    return started;
  }

  it('serves a miss, then a hit, with the full set of caching headers', async () => {
    const miss = await get('/logo/acme.png');
    expect(miss.status).toBe(200);
    expect(miss.headers).toMatchObject({
      'content-type': 'image/png',
      'content-length': String(miss.body.length),
      'cache-control': 'public, max-age=2592000',
      'x-cache': 'MISS',
      'x-content-type-options': 'nosniff',
    });
    expect(new Date(miss.headers.expires).getTime()).toBeGreaterThan(Date.now());
    expect(miss.headers.etag).toMatch(/^"[\w+/=-]+"$/);
    expect(await sharp(miss.body).metadata()).toMatchObject({ format: 'png', width: 100, height: 50 });
    const hit = await get('/logo/acme.png');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(Buffer.compare(hit.body, miss.body)).toBe(0);
  });

  it('answers If-None-Match with 304 and no body, and HEAD with the headers only', async () => {
    const { headers } = await get('/logo/cond.png');
    const notModified = await raw('GET', '/logo/cond.png', `If-None-Match: ${headers.etag}`);
    expect(notModified.head).toMatch(/^HTTP\/1\.1 304 /);
    expect(notModified.head).not.toMatch(/^content-type:/im);
    expect(notModified.body).toBe(0);
    const head = await raw('HEAD', '/logo/cond.png');
    expect(head.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head.head).toMatch(new RegExp(`^content-length: ${headers['content-length']}\r$`, 'im'));
    expect(head.head).toMatch(/^content-type: image\/png\r$/im);
    expect(head.body).toBe(0);
  });

  it('maps what went wrong to its status, as on Express', async () => {
    expect((await get('/logo/none.png')).status).toBe(404);
    expect((await get('/logo/html.png')).status).toBe(422);
    const impatient = await startApp({ processingTimeoutMs: 1, signing: { keys: [SIGNING_KEY] } });
    try {
      const slow = await get('/heavy.png', impatient);
      expect(slow.status).toBe(503);
      expect(slow.headers['retry-after']).toBe('5');
    } finally {
      await impatient.close();
    }
  });

  it('negotiates the format with Vary: Accept, and refuses a preset the route does not offer before the handler runs', async () => {
    const webp = await get('/auto/photo').set('Accept', 'image/webp,*/*');
    expect(webp.headers['content-type']).toBe('image/webp');
    expect(webp.headers.vary).toBe('Accept');
    handlerCalls = 0;
    expect((await get('/auto/photo?preset=huge')).status).toBe(400);
    expect(handlerCalls).toBe(0);
    expect((await get('/auto/photo?preset=small')).status).toBe(200);
  });

  it('checks signed URLs against the path Fastify saw, and honours an allowed ?redraw', async () => {
    const url = app.get(ImageResizeService).signUrl('/signed/acme', { w: 40, h: 40 });
    const signed = await get(url);
    expect(signed.status).toBe(200);
    expect((await sharp(signed.body).metadata()).width).toBe(40);
    expect((await get(url.replace('w=40', 'w=41'))).status).toBe(403);
    expect((await get('/logo/acme.png?redraw=1')).headers['x-cache']).toBe('BYPASS');
  });

  it("runs the route's guards first", async () => {
    expect((await get('/guarded.png')).status).toBe(403);
    expect(handlerCalls).toBe(0);
  });
});
