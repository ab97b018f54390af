import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { UrlSigner } from '../libs/image-resize/src/signing/url-signer';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';

const NEW_KEY = 'signed-e2e-new-key-0123456789-0123456789';
const OLD_KEY = 'signed-e2e-old-key-0123456789-0123456789';
const HOUR_MS = 3_600_000;
let png: Buffer;
let handlerCalls = 0;

@Controller()
class SignedController {
  @Get('signed/:name')
  @ResizedImage({ signed: true, format: 'png' })
  signed(@Param('name') name: string) {
    handlerCalls++;
    return { buffer: png, cacheKey: `signed_${name}` };
  }
}

describe('signed URLs that expire', () => {
  let app: INestApplication;
  let service: ImageResizeService;

  beforeAll(async () => {
    png = await transparentPng();
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ signing: { keys: [NEW_KEY, OLD_KEY] } })],
      controllers: [SignedController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    service = app.get(ImageResizeService);
  });
  afterAll(async () => app.close());

  const get = (path: string) => request(app.getHttpServer()).get(path).buffer(true).parse(binary);

  it('serves a URL before its expiry, and the expiry does not split the cache', async () => {
    const url = service.signUrl('/signed/a', { w: 40, h: 40 }, { expiresIn: 3600 });
    expect(url).toMatch(/[?&]exp=\d+&/);
    const first = await get(url);
    expect([first.status, first.headers['x-cache']]).toEqual([200, 'MISS']);
    expect((await sharp(first.body).metadata()).width).toBe(40);
    const later = service.signUrl(
      '/signed/a',
      { w: 40, h: 40 },
      { expiresAt: new Date(Date.now() + 2 * HOUR_MS) },
    );
    expect(later).not.toBe(url);
    const second = await get(later);
    expect([second.status, second.headers['x-cache']]).toEqual([200, 'HIT']);
  });

  it('lets clients and CDNs keep the image no longer than its URL is valid', async () => {
    const url = service.signUrl('/signed/short', { w: 40, h: 40 }, { expiresIn: 120 });
    const exp = Number(new URL(url, 'http://x').searchParams.get('exp'));
    const before = Math.floor(Date.now() / 1000);
    const res = await get(url);
    expect(res.status).toBe(200);
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers['cache-control'])?.[1]);
    expect(maxAge).toBeGreaterThan(100);
    expect(maxAge).toBeLessThanOrEqual(exp - before);
    expect(new Date(res.headers.expires).getTime()).toBeLessThanOrEqual(exp * 1000);
    // Without an expiry, the route's TTL as usual.
    const lasting = await get(service.signUrl('/signed/short', { w: 40, h: 40 }));
    expect(lasting.headers['cache-control']).toBe('public, max-age=2592000');
  });

  it('refuses an expired URL with 403, before the handler runs', async () => {
    const calls = handlerCalls;
    const expired = service.signUrl(
      '/signed/b',
      { w: 40, h: 40 },
      { expiresAt: new Date(Date.now() - HOUR_MS) },
    );
    const response = await request(app.getHttpServer()).get(expired);
    expect(response.status).toBe(403);
    expect(response.body.message).toMatch(/expired/);
    expect(handlerCalls).toBe(calls);
  });

  it('refuses a URL whose exp was changed or removed', async () => {
    const url = service.signUrl('/signed/c', { w: 40, h: 40 }, { expiresIn: 60 });
    const exp = Number(new URL(url, 'http://x').searchParams.get('exp'));
    expect((await get(url.replace(`exp=${exp}`, `exp=${exp + 86_400}`))).status).toBe(403);
    expect((await get(url.replace(`exp=${exp}&`, ''))).status).toBe(403);
    expect((await get(url)).status).toBe(200);
  });

  it('keeps URLs signed without an expiry working', async () => {
    expect((await get(service.signUrl('/signed/d', { w: 30, h: 30 }))).status).toBe(200);
  });

  it('verifies a URL signed with a rotated-out key until its own expiry', async () => {
    const oldSigner = new UrlSigner([OLD_KEY]);
    expect((await get(oldSigner.sign('/signed/e', { w: 20, h: 20 }, { expiresIn: 3600 }))).status).toBe(200);
    const lapsed = oldSigner.sign('/signed/e', { w: 20, h: 20 }, { expiresAt: new Date(Date.now() - 1000) });
    expect((await get(lapsed)).status).toBe(403);
    const unknown = new UrlSigner(['signed-e2e-other-key-0123456789-0123456789']);
    expect((await get(unknown.sign('/signed/e', { w: 20, h: 20 }, { expiresIn: 3600 }))).status).toBe(403);
  });
});
