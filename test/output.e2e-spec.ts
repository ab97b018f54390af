import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { photoJpeg, transparentPng } from './support/fixtures';

const SIGNING_KEY = 'e2e-signing-key-0123456789-0123456789';
let png: Buffer;
let jpeg: Buffer;
let handlerCalls = 0;

@Controller()
class OutputController {
  @Get('auto/:name')
  @ResizedImage({ width: 64, height: 64, format: 'auto' })
  auto(@Param('name') name: string) {
    handlerCalls++;
    return { buffer: name === 'photo' ? jpeg : png, cacheKey: `auto_${name}` };
  }

  @Get('preset/:name')
  @ResizedImage({
    width: 128,
    height: 128,
    presets: { small: { width: 32, height: 32 }, large: { width: 256, height: 256, format: 'webp' } },
  })
  preset(@Param('name') name: string) {
    handlerCalls++;
    return { buffer: png, cacheKey: `preset_${name}` };
  }

  @Get('widths/:name')
  @ResizedImage({ width: 200, height: 100, widths: [100, 400], withoutEnlargement: false })
  widths(@Param('name') name: string) {
    handlerCalls++;
    return { buffer: png, cacheKey: `widths_${name}` };
  }

  @Get('signed/:name')
  @ResizedImage({ signed: true, format: 'png' })
  signed(@Param('name') name: string) {
    handlerCalls++;
    return { buffer: png, cacheKey: `signed_${name}` };
  }
}

describe('output chosen by the request', () => {
  let app: INestApplication;
  let service: ImageResizeService;
  beforeAll(async () => {
    png = await transparentPng();
    jpeg = await photoJpeg();
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ signing: { keys: [SIGNING_KEY] } })],
      controllers: [OutputController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    service = app.get(ImageResizeService);
  });
  afterAll(async () => app.close());

  const get = (path: string, accept?: string) => {
    const req = request(app.getHttpServer()).get(path).buffer(true).parse(binary);
    return accept === undefined ? req : req.set('Accept', accept);
  };

  it.each([
    ['image/avif,image/webp,image/apng,*/*;q=0.8', 'logo', 'image/avif'],
    ['image/webp,*/*', 'logo', 'image/webp'],
    ['*/*', 'logo', 'image/png'],
    ['*/*', 'photo', 'image/jpeg'],
    ['image/avif;q=0,image/webp', 'photo', 'image/webp'],
  ])('answers Accept %s for the %s with %s and Vary: Accept', async (accept, name, type) => {
    const res = await get(`/auto/${name}`, accept);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['vary']).toMatch(/Accept/);
    const meta = await sharp(res.body).metadata();
    expect(meta.format).toBe(type === 'image/avif' ? 'heif' : type.slice(6));
  });

  it('keys the cache by the negotiated format, not by the Accept string', async () => {
    const first = await get('/auto/logo2', 'image/avif,image/webp,*/*');
    const second = await get('/auto/logo2', 'image/avif');
    const third = await get('/auto/logo2', 'text/html, image/avif;q=0.9, image/webp;q=0.1');
    expect([first.headers['x-cache'], second.headers['x-cache'], third.headers['x-cache']]).toEqual([
      'MISS',
      'HIT',
      'HIT',
    ]);
    const notModified = await request(app.getHttpServer())
      .get('/auto/logo2')
      .set('Accept', 'image/avif')
      .set('If-None-Match', first.headers['etag']);
    expect(notModified.status).toBe(304);
    expect(notModified.headers['vary']).toMatch(/Accept/);
  });

  it('serves the presets a route offers and refuses others before calling the handler', async () => {
    const small = await get('/preset/a?preset=small');
    expect([small.status, (await sharp(small.body).metadata()).width]).toEqual([200, 32]);
    const large = await get('/preset/a?preset=large');
    expect(large.headers['content-type']).toBe('image/webp');
    const route = await get('/preset/a');
    expect((await sharp(route.body).metadata()).width).toBe(128);
    const calls = handlerCalls;
    const refused = await request(app.getHttpServer()).get('/preset/a?preset=huge');
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe('?preset must be one of small, large (got a string "huge")');
    expect(handlerCalls).toBe(calls);
  });

  it('serves only allowlisted widths', async () => {
    const ok = await get('/widths/a?w=400');
    expect(ok.status).toBe(200);
    const meta = await sharp(ok.body).metadata();
    expect([meta.width, meta.height]).toEqual([400, 200]);
    expect((await request(app.getHttpServer()).get('/widths/a?w=401')).status).toBe(400);
  });

  it('serves free-form sizes only from signed URLs', async () => {
    const url = service.signUrl('/signed/a', { w: 50, h: 40, format: 'webp' });
    const ok = await get(url);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('image/webp');
    expect((await sharp(ok.body).metadata()).width).toBe(50);

    const calls = handlerCalls;
    expect((await request(app.getHttpServer()).get('/signed/a?w=50&h=40')).status).toBe(403);
    expect((await request(app.getHttpServer()).get(url.replace('w=50', 'w=500'))).status).toBe(403);
    expect((await request(app.getHttpServer()).get(`${url}&q=100`)).status).toBe(403);
    expect((await request(app.getHttpServer()).get(url.replace('/signed/a', '/signed/b'))).status).toBe(403);
    expect(handlerCalls).toBe(calls);

    const tooLarge = await request(app.getHttpServer()).get(service.signUrl('/signed/a', { w: 5000, h: 10 }));
    expect(tooLarge.status).toBe(400);
  });
});
