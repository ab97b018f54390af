import type { ImageResizeService } from '../image-resize.service';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { ResizedImageResult } from '../resized-image.result';
import type { ImageExchange } from './image-exchange';
import { cacheControlHeader, ResizedImageResponder, type ResponseHeaders } from './resized-image.responder';

describe('cacheControlHeader', () => {
  it('is public by default, with the extras for CDNs where asked for', () => {
    expect(cacheControlHeader(60, {})).toBe('public, max-age=60');
    expect(cacheControlHeader(60, { sMaxAge: 600, immutable: true })).toBe(
      'public, max-age=60, s-maxage=600, immutable',
    );
  });

  it('is private, and only private, for a private image', () => {
    expect(cacheControlHeader(60, { private: true })).toBe('private, max-age=60');
    // Refused at boot; a value that reached it anyway (a hand-made options object) still sends nothing public.
    expect(cacheControlHeader(60, { private: true, sMaxAge: 600, immutable: true })).toBe(
      'private, max-age=60',
    );
  });
});

describe('ResizedImageResponder headers', () => {
  const image: ResizedImageResult = {
    body: Buffer.from('png'),
    contentType: 'image/png',
    etag: '"abc"',
    width: 10,
    height: 10,
    format: 'png',
    createdAt: 0,
    cacheStatus: 'MISS',
    ttl: 120,
    negotiated: false,
    key: 'image_resize_logo_acme_10_10_png',
  } as unknown as ResizedImageResult;

  /** A response as Express's or Fastify's: headers by lower-case name, some set before the handler ran. */
  function exchangeWith(preset: Record<string, string> = {}) {
    const headers = new Map(Object.entries(preset).map(([name, value]) => [name.toLowerCase(), value]));
    const exchange: ImageExchange = {
      request: { headers: {} },
      headers: {},
      query: {},
      path: '/logo.png',
      header: (name, value) => void headers.set(name.toLowerCase(), String(value)),
      removeHeader: (name) => void headers.delete(name.toLowerCase()),
      vary: () => undefined,
      send: () => undefined,
    };
    const response: ResponseHeaders = { getHeader: (name) => headers.get(name.toLowerCase()) };
    return { exchange, response, headers };
  }

  function responder(cacheControl: ResolvedImageResizeOptions['cacheControl']) {
    const service = {
      resolveSpec: (spec: object) => ({ ...spec, format: 'png' }),
      resizeResolved: () => Promise.resolve(image),
    } as unknown as ImageResizeService;
    return new ResizedImageResponder(service, {
      cacheControl,
      allowRedraw: false,
    } as ResolvedImageResizeOptions);
  }

  it('sends the route’s cacheControl, else the module’s, with Expires', async () => {
    const { exchange, response, headers } = exchangeWith();
    const images = responder({ sMaxAge: 600 });
    await images.prepare({ width: 10, height: 10 }, exchange, response).send(Buffer.from('x'));
    expect(headers.get('cache-control')).toBe('public, max-age=120, s-maxage=600');
    expect(headers.get('expires')).toBeDefined();

    const route = exchangeWith();
    await images
      .prepare({ width: 10, height: 10, cacheControl: { private: true } }, route.exchange, route.response)
      .send(Buffer.from('x'));
    expect(route.headers.get('cache-control')).toBe('private, max-age=120');
    expect(route.headers.get('expires')).toBeDefined();
  });

  it('keeps a Cache-Control the route set itself, and sends no Expires beside it', async () => {
    const { exchange, response, headers } = exchangeWith({ 'Cache-Control': 'private, no-cache' });
    await responder({ sMaxAge: 600 })
      .prepare({ width: 10, height: 10, cacheControl: { immutable: true } }, exchange, response)
      .send(Buffer.from('x'));
    expect(headers.get('cache-control')).toBe('private, no-cache');
    expect(headers.has('expires')).toBe(false);
    expect([headers.get('etag'), headers.get('content-type')]).toEqual(['"abc"', 'image/png']);
  });

  it('writes its own Cache-Control when it cannot see the response (no response given)', async () => {
    const { exchange, headers } = exchangeWith();
    await responder({}).prepare({ width: 10, height: 10 }, exchange).send(Buffer.from('x'));
    expect(headers.get('cache-control')).toBe('public, max-age=120');
  });
});
