import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { Test } from '@nestjs/testing';
import sharp from 'sharp';
import request from 'supertest';
import { OriginalsService } from '../../../../src/originals/originals.service';
import { binary } from '../../../../test/support/binary';
import { type ResizedImageOptions, ResizedImage } from '../decorators/resized-image.decorator';
import { IMAGE_RESIZE_OPTIONS, RESIZED_IMAGE_METADATA } from '../image-resize.constants';
import { ImageResizeModule } from '../image-resize.module';
import { ImageResizeService } from '../image-resize.service';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { type ImageAttributes, type ImageAttributesOptions, imageAttributes } from './image-attributes';
import { joinRoutePath, routePath } from './route-path';

/*
 * The attributes against the real thing: a Nest app with `@ResizedImage()` routes like the example
 * app's, behind a global prefix. Every URL is requested; each must answer 200 with an image of the
 * size its descriptor and the `width`/`height` attributes say.
 */

const KEY = 'image-attributes-http-key-0123456789-0123456789';
const PREFIX = 'api';
const originals = new OriginalsService();
const original = (slug: string) => originals.get(`${slug}.${slug === 'basalt' ? 'jpg' : 'png'}`)?.body;

@Controller('assets')
class PageAssetsController {
  @Get(':slug/logo_small.png')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  logoSmall(@Param('slug') slug: string) {
    return original(slug) ?? null;
  }

  @Get(':slug/logo')
  @ResizedImage({
    width: 256,
    height: 256,
    format: 'auto',
    presets: { small: { width: 64, height: 64 }, large: { width: 512, height: 512 } },
  })
  logo(@Param('slug') slug: string) {
    return original(slug) ?? null;
  }

  @Get(':slug/banner')
  @ResizedImage({ width: 400, height: 250, format: 'webp', widths: [200, 400, 800, 1600] })
  banner(@Param('slug') slug: string) {
    return original(slug) ?? null;
  }

  @Get(':slug/signed')
  @ResizedImage({ signed: true, format: 'webp' })
  signed(@Param('slug') slug: string) {
    return original(slug) ?? null;
  }
}

type Method = keyof PageAssetsController;

/** What `imgAttributes()` reads of a route: its options and path pattern, from its metadata. */
function routeOf(method: Method): { options: ResizedImageOptions; pattern: string } {
  const handler = PageAssetsController.prototype[method];
  return {
    options: Reflect.getMetadata(RESIZED_IMAGE_METADATA, handler) as ResizedImageOptions,
    pattern: joinRoutePath(
      PREFIX,
      Reflect.getMetadata(PATH_METADATA, PageAssetsController) as string,
      Reflect.getMetadata(PATH_METADATA, handler) as string,
    ),
  };
}

describe('imageAttributes, served by a Nest app', () => {
  let app: INestApplication;
  let service: ImageResizeService;
  let limits: ResolvedImageResizeOptions;

  beforeAll(async () => {
    await originals.onModuleInit();
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ signing: { keys: [KEY] } })],
      controllers: [PageAssetsController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.setGlobalPrefix(PREFIX);
    await app.init();
    service = app.get(ImageResizeService);
    limits = app.get(IMAGE_RESIZE_OPTIONS);
  });
  afterAll(async () => app?.close());

  const attributesFor = (method: Method, slug: string, options: Partial<ImageAttributesOptions> = {}) => {
    const { options: route, pattern } = routeOf(method);
    return imageAttributes(route, routePath(pattern, { slug }), {
      limits,
      signer: (path, params) => service.signUrl(path, params, { expiresIn: 600 }),
      ...options,
    });
  };

  /** Requests every URL of `attributes`; checks each answers with the size it is described by. */
  async function expectServedAsDescribed(attributes: ImageAttributes): Promise<string[]> {
    const sizeOf = async (url: string) => {
      const response = await request(app.getHttpServer()).get(url).buffer(true).parse(binary);
      expect({ url, status: response.status }).toEqual({ url, status: 200 });
      const { width, height } = await sharp(response.body as Buffer).metadata();
      return { width: width as number, height: height as number };
    };
    const src = await sizeOf(attributes.src);
    if (attributes.width !== undefined)
      expect(src).toEqual({ width: attributes.width, height: attributes.height });
    const descriptors: string[] = [];
    for (const candidate of (attributes.srcset ?? '').split(', ').filter(Boolean)) {
      const [url, descriptor] = candidate.split(' ');
      const sent = await sizeOf(url);
      descriptors.push(descriptor);
      if (descriptor.endsWith('w')) expect(sent.width).toBe(Number(descriptor.slice(0, -1)));
      else
        expect(
          Math.abs(sent.width - Number(descriptor.slice(0, -1)) * (attributes.width as number)),
        ).toBeLessThanOrEqual(1);
    }
    return descriptors;
  }

  /** The descriptors of each srcset, for each of the example's originals. */
  const EXPECTED = {
    // 1200x1200 with transparency.
    aurora: {
      intrinsic: { width: 1200, height: 1200 },
      logoSmall: [],
      logo: ['1x', '2x'],
      logoSized: ['64w', '256w', '512w'],
      // A square in a 400x250 box: 250x250 at the route's own size; the 1600x1000 box sends 1000x1000.
      banner: ['125w', '250w', '500w', '1000w'],
      signed: ['1x', '2x'],
      signedWidths: ['300w', '320w', '640w', '960w', '1280w'],
    },
    // 800x500 JPEG.
    basalt: {
      intrinsic: { width: 800, height: 500 },
      logoSmall: [],
      logo: ['1x', '2x'],
      logoSized: ['64w', '256w', '512w'],
      // Never past the original's 800 px.
      banner: ['200w', '400w', '800w'],
      signed: ['1x', '2x'],
      // cover enlarges, but a srcset does not offer more than the first image with all the original's pixels.
      signedWidths: ['300w', '320w', '640w', '960w'],
    },
    // 96x96: never enlarged by fit inside, and not offered enlarged by cover.
    cobalt: {
      intrinsic: { width: 96, height: 96 },
      logoSmall: [],
      logo: [],
      logoSized: ['64w', '96w'],
      banner: [],
      signed: [],
      signedWidths: [],
    },
  };

  it.each(Object.keys(EXPECTED) as Array<keyof typeof EXPECTED>)(
    'serves every image of %s as described',
    async (slug) => {
      const { intrinsic, ...expected } = EXPECTED[slug];
      const seen: Record<string, string[]> = {};
      seen.logoSmall = await expectServedAsDescribed(attributesFor('logoSmall', slug, { intrinsic }));
      seen.logo = await expectServedAsDescribed(attributesFor('logo', slug, { intrinsic }));
      seen.logoSized = await expectServedAsDescribed(
        attributesFor('logo', slug, { intrinsic, sizes: '256px' }),
      );
      seen.banner = await expectServedAsDescribed(
        attributesFor('banner', slug, { intrinsic, sizes: '100vw' }),
      );
      seen.signed = await expectServedAsDescribed(
        attributesFor('signed', slug, { intrinsic, choose: { width: 300, height: 300 } }),
      );
      seen.signedWidths = await expectServedAsDescribed(
        attributesFor('signed', slug, {
          intrinsic,
          choose: { width: 300, height: 200, fit: 'cover' },
          sizes: '50vw',
        }),
      );
      expect(seen).toEqual(expected);
    },
  );

  it('serves a slug that needs encoding, signed over the path as the browser sends it', async () => {
    const attributes = attributesFor('signed', 'a b/é?', { choose: { width: 40, height: 40 } });
    expect(attributes.src).toMatch(
      /^\/api\/assets\/a%20b%2F%C3%A9%3F\/signed\?exp=\d+&h=40&w=40&sig=[\w-]+$/,
    );
    // No original for that slug: the route is reached (404 from the handler), not refused (400/403).
    for (const url of [attributes.src, attributes.srcset?.split(', ')[1].split(' ')[0] as string]) {
      expect((await request(app.getHttpServer()).get(url)).status).toBe(404);
    }
  });
});
