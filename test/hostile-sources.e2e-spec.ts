import type { ServerResponse } from 'node:http';
import { Controller, Get, type INestApplication, Query } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { type ImageResizeModuleOptions, ImageResizeModule, ResizedImage } from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { HTML_PAGE, transparentPng } from './support/fixtures';
import { animatedGif, heavyPng, pngClaiming } from './support/hostile-fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';

/**
 * The hostile case: the URL of the image is whatever a user typed in. Every origin here is on
 * loopback, and every refusal is checked to have sent no request to it.
 */
@Controller()
class UserLogoController {
  @Get('logo')
  @ResizedImage({ width: 64, height: 64, format: 'png' })
  logo(@Query('url') url: string) {
    return url;
  }
}

const LIMITS: ImageResizeModuleOptions = {
  maxSourceBytes: 200_000,
  fetchTimeoutMs: 600,
  maxInputPixels: 5_000_000,
  maxAnimationFrames: 3,
};

async function startApp(options: ImageResizeModuleOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot({ ...LIMITS, ...options })],
    controllers: [UserLogoController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** Nothing of the machine in an error body: no address, port, path or stack frame. */
function expectNoLeak(body: unknown, origin: TestOrigin): void {
  const text = JSON.stringify(body);
  const port = new URL(origin.url).port;
  expect(text).not.toMatch(/127\.0\.0\.1|::1|localhost|\/tmp|node_modules|at \w+ \(/);
  expect(text).not.toContain(port);
}

let origin: TestOrigin;
let origin6: TestOrigin;
let target: TestOrigin;
let logo: Buffer;
let port: string;

beforeAll(async () => {
  logo = await transparentPng();
  const bytes = (body: Buffer, type = 'image/png') => ({ contentType: type, body });
  target = await startOrigin({ '/logo.png': bytes(logo) });
  const drip = (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'image/png' });
    const timer = setInterval(() => res.write(Buffer.alloc(1)), 100);
    res.on('close', () => clearInterval(timer));
  };
  const endless = (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'image/png' });
    const chunk = Buffer.alloc(65536, 1);
    const push = () => {
      while (res.write(chunk));
      res.once('drain', push);
    };
    push();
  };
  origin = await startOrigin({
    '/logo.png': bytes(logo),
    '/page.html': bytes(Buffer.from(HTML_PAGE)),
    '/empty.png': bytes(Buffer.alloc(0)),
    '/truncated.png': bytes(logo.subarray(0, logo.length >> 1)),
    '/bomb.png': bytes(await pngClaiming(100_000, 100_000)),
    '/animated.gif': bytes(await animatedGif(5), 'image/gif'),
    '/polyglot.png': bytes(Buffer.concat([logo, Buffer.from('<script>alert(document.cookie)</script>')])),
    '/logo.svg': bytes(
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">
          <rect width="100" height="100" fill="#0f0"/>
          <image href="${'TARGET'}/logo.png" xlink:href="${'TARGET'}/logo.png" width="100" height="100"/>
        </svg>`,
      ),
      'image/svg+xml',
    ),
    '/heavy.png': bytes(await heavyPng()),
    '/large-declared.png': (_req, res) =>
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': '900000000' }).end(),
    '/endless.png': endless,
    '/drip.png': drip,
    '/silent.png': () => undefined,
    '/gone.png': { status: 410 },
    '/error.png': { status: 503, contentType: 'text/plain', body: 'upstream 10.1.2.3 down' },
    '/redirect-loop': (_req, res) => res.writeHead(302, { Location: '/redirect-loop' }).end(),
    '/redirect-to-refused': (_req, res) => res.writeHead(302, { Location: `${target.url}/logo.png` }).end(),
    '/redirect-to-file': (_req, res) => res.writeHead(302, { Location: 'file:///etc/passwd' }).end(),
  });
  port = new URL(origin.url).port;
  const svg = origin.routes.get('/logo.svg') as { body: Buffer };
  svg.body = Buffer.from(svg.body.toString().replaceAll('TARGET', target.url));
  origin6 = await startOrigin({ '/logo.png': bytes(logo) }, '::1');
});

afterAll(async () => {
  await Promise.all([origin, origin6, target].map((server) => server?.close()));
});

describe('with the default policy (public addresses only)', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp({});
  });
  afterAll(async () => app.close());

  const port6 = () => new URL(origin6.url).port;
  it.each([
    ['127.0.0.1', () => `http://127.0.0.1:${port}/logo.png`],
    ['localhost (a name that resolves to loopback)', () => `http://localhost:${port}/logo.png`],
    ['[::1]', () => `http://[::1]:${port6()}/logo.png`],
    ['2130706433', () => `http://2130706433:${port}/logo.png`],
    ['0x7f.1', () => `http://0x7f.1:${port}/logo.png`],
    ['0177.0.0.1', () => `http://0177.0.0.1:${port}/logo.png`],
    ['127.1', () => `http://127.1:${port}/logo.png`],
    ['[::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${port}/logo.png`],
    ['0.0.0.0', () => `http://0.0.0.0:${port}/logo.png`],
  ])('refuses %s with 403 and sends it no request', async (_name, url) => {
    const before = origin.total() + origin6.total();
    const res = await request(app.getHttpServer()).get('/logo').query({ url: url() });
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/not allowed/);
    expectNoLeak(res.body, origin);
    expect(origin.total() + origin6.total()).toBe(before);
  });

  it.each([
    'file:///etc/passwd',
    'ftp://127.0.0.1/logo.png',
    'gopher://127.0.0.1:70/_x',
    'data:image/png;base64,iVBORw0K',
  ])('refuses the scheme of %s with 403', async (url) => {
    const res = await request(app.getHttpServer()).get('/logo').query({ url });
    expect(res.status).toBe(403);
    expectNoLeak(res.body, origin);
  });
});

describe('with private addresses allowed for one host', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp({ sources: { allowPrivateNetworks: ['localhost'], maxRedirects: 1 } });
  });
  afterAll(async () => app.close());
  const at = (path: string) => `http://localhost:${port}${path}`;
  const get = (path: string) =>
    request(app.getHttpServer())
      .get('/logo')
      .query({ url: at(path) });

  it('serves that host', async () => {
    const res = await get('/logo.png');
    expect(res.status).toBe(200);
  });

  it('refuses another loopback host, and a redirect to it, sending it no request', async () => {
    const direct = await request(app.getHttpServer())
      .get('/logo')
      .query({ url: `${target.url}/logo.png` });
    expect(direct.status).toBe(403);
    const redirected = await get('/redirect-to-refused');
    expect(redirected.status).toBe(403);
    expectNoLeak(redirected.body, target);
    expect(target.total()).toBe(0);
    const toFile = await get('/redirect-to-file');
    expect(toFile.status).toBe(403);
  });

  it.each([
    ['/heavy.png', 422, 'a body over maxSourceBytes with Content-Length'],
    ['/page.html', 422, 'an HTML page sent as image/png'],
    ['/empty.png', 422, 'an empty body'],
    ['/truncated.png', 422, 'a truncated PNG'],
    ['/bomb.png', 422, 'a PNG whose header claims 100000x100000 pixels'],
    ['/animated.gif', 422, 'a GIF with more frames than maxAnimationFrames'],
    ['/logo.svg', 422, 'an SVG (off by default)'],
    ['/endless.png', 422, 'a body without Content-Length over maxSourceBytes'],
    ['/large-declared.png', 422, 'a Content-Length over maxSourceBytes'],
    ['/drip.png', 504, 'an origin that drips one byte at a time'],
    ['/silent.png', 504, 'an origin that never answers'],
    ['/missing.png', 404, 'an upstream 404'],
    ['/gone.png', 404, 'an upstream 410'],
    ['/error.png', 502, 'an upstream 503'],
    ['/redirect-loop', 502, 'more redirects than maxRedirects'],
  ])('answers %s with %d (%s), leaking nothing', async (path, status) => {
    const res = await get(path);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['cache-control']).toBeUndefined();
    expectNoLeak(res.body, origin);
    expect(JSON.stringify(res.body)).not.toContain('10.1.2.3');
  });

  it('answers a refused connection with 502', async () => {
    const res = await request(app.getHttpServer()).get('/logo').query({ url: 'http://localhost:1/logo.png' });
    expect(res.status).toBe(502);
    expectNoLeak(res.body, origin);
  });

  it('re-encodes a polyglot, so nothing but image bytes is served', async () => {
    const res = await get('/polyglot.png').buffer(true).parse(binary);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body.includes('<script>')).toBe(false);
    expect((await sharp(res.body).metadata()).format).toBe('png');
  });

  it('never forwards the caller\u2019s cookies or authorization', async () => {
    const res = await get('/logo.png?fresh=1')
      .set('Cookie', 'session=secret')
      .set('Authorization', 'Bearer secret');
    expect(res.status).toBe(200);
    const seen = origin.lastHeaders.get('/logo.png') ?? {};
    expect(seen.cookie).toBeUndefined();
    expect(seen.authorization).toBeUndefined();
  });

  it('still serves a normal logo correctly after all of that', async () => {
    const res = await get('/logo.png?after=1').buffer(true).parse(binary);
    expect(res.status).toBe(200);
    const meta = await sharp(res.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 32]);
  });
});

describe('with a host allowlist', () => {
  it('fetches only the hosts listed', async () => {
    const app = await startApp({ sources: { allowedHosts: ['localhost'], allowPrivateNetworks: true } });
    try {
      const before = origin.total();
      const refused = await request(app.getHttpServer())
        .get('/logo')
        .query({ url: `http://127.0.0.1:${port}/logo.png` });
      expect(refused.status).toBe(403);
      expect(origin.total()).toBe(before);
      const allowed = await request(app.getHttpServer())
        .get('/logo')
        .query({ url: `http://localhost:${port}/logo.png` });
      expect(allowed.status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('SVG, when allowed', () => {
  it('is rasterised to PNG without loading what it links to', async () => {
    const app = await startApp({ allowSvg: true, sources: { allowPrivateNetworks: ['localhost'] } });
    try {
      const res = await request(app.getHttpServer())
        .get('/logo')
        .query({ url: `http://localhost:${port}/logo.svg` })
        .buffer(true)
        .parse(binary);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('image/png');
      expect(res.body.includes('<svg')).toBe(false);
      expect(target.total()).toBe(0);
    } finally {
      await app.close();
    }
  });
});

describe('processing time limit', () => {
  it('answers 503 with Retry-After when resizing takes longer than processingTimeoutMs', async () => {
    const app = await startApp({
      processingTimeoutMs: 1,
      maxSourceBytes: 50_000_000,
      sources: { allowPrivateNetworks: ['localhost'] },
    });
    try {
      const res = await request(app.getHttpServer())
        .get('/logo')
        .query({ url: `http://localhost:${port}/heavy.png` });
      expect(res.status).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body.message).toBe('Image processing timed out');
    } finally {
      await app.close();
    }
  });
});
