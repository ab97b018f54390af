import { parse as parseQuery } from 'node:querystring';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { specFromRequest } from '../http/request-spec.resolver';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { ResolvedResizeSpec } from '../spec/resize-spec.interface';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';
import { UrlSigner } from '../signing/url-signer';
import {
  DEFAULT_SIGNED_WIDTHS,
  type ImageAttributes,
  ImageAttributesError,
  type ImageAttributesLimits,
  type ImageAttributesOptions,
  imageAttributes,
} from './image-attributes';

const limits = resolveImageResizeOptions({});
const KEY = 'image-attributes-spec-key-0123456789-0123456789';
const signer = new UrlSigner([KEY]);
const sign = (path: string, params: Record<string, string | number>) => signer.sign(path, params);

/** The routes of the example app (src/assets/assets.controller.ts). */
const LOGO_SMALL: ResizedImageOptions = { width: 256, height: 256, format: 'png' };
const LOGO: ResizedImageOptions = {
  width: 256,
  height: 256,
  format: 'auto',
  presets: { small: { width: 64, height: 64 }, large: { width: 512, height: 512 } },
};
/** The example's originals: aurora 1200x1200, basalt 800x500, cobalt 96x96. */
const AURORA = { width: 1200, height: 1200 };
const BASALT = { width: 800, height: 500 };
const COBALT = { width: 96, height: 96 };

const WIDTHS: ResizedImageOptions = {
  width: 400,
  height: 300,
  format: 'webp',
  widths: [200, 400, 800, 1600],
};
const SIGNED: ResizedImageOptions = { signed: true, format: 'webp' };

/** Every URL of the attributes: the src and each candidate of the srcset, with its descriptor. */
function urlsOf(attributes: ImageAttributes): Array<{ url: string; descriptor?: string }> {
  const candidates = (attributes.srcset ?? '').split(', ').filter(Boolean);
  return [
    { url: attributes.src },
    ...candidates.map((candidate) => {
      const [url, descriptor] = candidate.split(' ');
      return { url, descriptor };
    }),
  ];
}

/**
 * Reads `url` as the route does (Express parses the query with node's querystring; the responder gives
 * the resolver the query and a verifier of the path as it was sent) and as the service then checks it
 * against the module's limits; throws what the route would answer with.
 */
function asTheRouteReadsIt(
  route: ResizedImageOptions,
  url: string,
  options: ImageAttributesLimits = limits,
): ResolvedResizeSpec {
  const at = url.indexOf('?');
  const path = at < 0 ? url : url.slice(0, at);
  const query = at < 0 ? {} : { ...parseQuery(url.slice(at + 1)) };
  const spec = specFromRequest(route, query, () => signer.verify(path, query));
  return resolveResizeSpec({ ...spec }, options);
}

/** Checks that the route accepts every URL of the attributes, and gives back what each asks for. */
function expectAccepted(
  route: ResizedImageOptions,
  attributes: ImageAttributes,
  options: ImageAttributesLimits = limits,
) {
  return urlsOf(attributes).map(({ url, descriptor }) => {
    expect(() => asTheRouteReadsIt(route, url, options)).not.toThrow();
    return { url, descriptor, spec: asTheRouteReadsIt(route, url, options) };
  });
}

const attributesOf = (
  route: ResizedImageOptions,
  path: string,
  options: Partial<ImageAttributesOptions> = {},
) => {
  const attributes = imageAttributes(route, path, { limits, ...options });
  expectAccepted(route, attributes, options.limits ?? limits);
  return attributes;
};

describe('imageAttributes', () => {
  describe('a fixed box (density descriptors)', () => {
    it('gives one image for a route with one size, sized as the route will send it', () => {
      expect(attributesOf(LOGO_SMALL, '/assets/aurora/logo_small.png', { intrinsic: AURORA })).toEqual({
        src: '/assets/aurora/logo_small.png',
        width: 256,
        height: 256,
      });
      // 800x500 fitted inside 256x256; 96x96 is never enlarged.
      expect(attributesOf(LOGO_SMALL, '/assets/basalt/logo_small.png', { intrinsic: BASALT })).toMatchObject({
        width: 256,
        height: 160,
      });
      expect(attributesOf(LOGO_SMALL, '/assets/cobalt/logo_small.png', { intrinsic: COBALT })).toMatchObject({
        width: 96,
        height: 96,
      });
    });

    it('offers the preset twice as large as 2x', () => {
      expect(attributesOf(LOGO, '/assets/aurora/logo', { intrinsic: AURORA })).toEqual({
        src: '/assets/aurora/logo',
        srcset: '/assets/aurora/logo 1x, /assets/aurora/logo?preset=large 2x',
        width: 256,
        height: 256,
      });
      expect(attributesOf(LOGO, '/assets/basalt/logo', { intrinsic: BASALT })).toEqual({
        src: '/assets/basalt/logo',
        srcset: '/assets/basalt/logo 1x, /assets/basalt/logo?preset=large 2x',
        width: 256,
        height: 160,
      });
    });

    it('offers no 2x the route does not have, nor one that would send the same image', () => {
      // No preset of 128x128 for the small one.
      expect(
        attributesOf(LOGO, '/assets/aurora/logo', { intrinsic: AURORA, choose: { preset: 'small' } }),
      ).toEqual({ src: '/assets/aurora/logo?preset=small', width: 64, height: 64 });
      // 96x96 is sent for 256 and for 512 alike.
      expect(attributesOf(LOGO, '/assets/cobalt/logo', { intrinsic: COBALT })).toEqual({
        src: '/assets/cobalt/logo',
        width: 96,
        height: 96,
      });
    });

    it('describes a larger image that the original cannot fill by the density it has', () => {
      // 300x200: 256x171 at 1x; the 512 box sends the original, 300 wide.
      expect(attributesOf(LOGO, '/a/logo', { intrinsic: { width: 300, height: 200 } })).toEqual({
        src: '/a/logo',
        srcset: '/a/logo 1x, /a/logo?preset=large 1.17x',
        width: 256,
        height: 171,
      });
    });

    it('finds the 2x among the widths, and a preset with dpr 2', () => {
      const route: ResizedImageOptions = { width: 100, height: 50, fit: 'cover', widths: [150, 200, 300] };
      expect(attributesOf(route, '/p', { descriptors: 'x', densities: [1, 1.5, 2, 3] })).toEqual({
        src: '/p',
        srcset: '/p 1x, /p?w=150 1.5x, /p?w=200 2x, /p?w=300 3x',
        width: 100,
        height: 50,
      });
      const retina: ResizedImageOptions = { width: 64, height: 64, presets: { retina: { dpr: 2 } } };
      expect(attributesOf(retina, '/p', { intrinsic: AURORA })).toEqual({
        src: '/p',
        srcset: '/p 1x, /p?preset=retina 2x',
        width: 64,
        height: 64,
      });
    });

    it('leaves out a larger preset that is another picture (format, fit) or another aspect ratio', () => {
      const route: ResizedImageOptions = {
        width: 100,
        height: 100,
        format: 'png',
        presets: {
          webp: { width: 200, height: 200, format: 'webp' },
          cover: { width: 200, height: 200, fit: 'cover' },
          wide: { width: 200, height: 100 },
        },
      };
      expect(attributesOf(route, '/p', { intrinsic: AURORA }).srcset).toBeUndefined();
      expect(attributesOf(route, '/p', { intrinsic: AURORA, choose: { preset: 'webp' } })).toEqual({
        src: '/p?preset=webp',
        width: 200,
        height: 200,
      });
    });

    it('gives no width and height without the original size when the fit depends on it', () => {
      expect(attributesOf(LOGO, '/assets/x/logo')).toEqual({
        src: '/assets/x/logo',
        srcset: '/assets/x/logo 1x, /assets/x/logo?preset=large 2x',
      });
      // cover, contain and fill always send the box.
      for (const fit of ['cover', 'contain', 'fill'] as const) {
        expect(attributesOf({ ...LOGO_SMALL, fit }, '/p')).toEqual({ src: '/p', width: 256, height: 256 });
      }
      // Unless cover or fill may not enlarge: then the original decides.
      expect(attributesOf({ ...LOGO_SMALL, fit: 'cover', withoutEnlargement: true }, '/p')).toEqual({
        src: '/p',
      });
      expect(
        attributesOf({ ...LOGO_SMALL, fit: 'cover', withoutEnlargement: true }, '/p', {
          intrinsic: { width: 300, height: 200 },
        }),
      ).toEqual({ src: '/p', width: 256, height: 200 });
    });
  });

  describe('width descriptors', () => {
    it('offers each width of the route, as the width of the image it sends', () => {
      expect(
        attributesOf(WIDTHS, '/photos/1', { intrinsic: { width: 1000, height: 750 }, sizes: '50vw' }),
      ).toEqual({
        src: '/photos/1',
        // The route's own 400 stands for ?w=400; the 1600 box sends the 1000 px original.
        srcset: '/photos/1?w=200 200w, /photos/1 400w, /photos/1?w=800 800w, /photos/1?w=1600 1000w',
        sizes: '50vw',
        width: 400,
        height: 300,
      });
    });

    it('leaves out widths that send the same image as a smaller one', () => {
      expect(
        attributesOf(WIDTHS, '/photos/1', { intrinsic: { width: 700, height: 525 }, descriptors: 'w' })
          .srcset,
      ).toBe('/photos/1?w=200 200w, /photos/1 400w, /photos/1?w=800 700w');
    });

    it('describes the boxes without the original size, with no width and height', () => {
      expect(attributesOf(WIDTHS, '/photos/1', { descriptors: 'w' })).toEqual({
        src: '/photos/1',
        srcset: '/photos/1?w=200 200w, /photos/1 400w, /photos/1?w=800 800w, /photos/1?w=1600 1600w',
      });
    });

    it('uses presets of the same picture as widths when sizes asks for width descriptors', () => {
      expect(
        attributesOf(LOGO, '/assets/aurora/logo', {
          intrinsic: AURORA,
          sizes: '(max-width: 600px) 64px, 256px',
        }),
      ).toEqual({
        src: '/assets/aurora/logo',
        srcset:
          '/assets/aurora/logo?preset=small 64w, /assets/aurora/logo 256w, /assets/aurora/logo?preset=large 512w',
        sizes: '(max-width: 600px) 64px, 256px',
        width: 256,
        height: 256,
      });
    });

    it('gives neither srcset nor sizes when the route has one image only', () => {
      expect(attributesOf(LOGO_SMALL, '/p', { intrinsic: AURORA, sizes: '100vw' })).toEqual({
        src: '/p',
        width: 256,
        height: 256,
      });
    });

    it('scales a preset by the widths too, and leaves out what the module limits refuse', () => {
      const route: ResizedImageOptions = {
        width: 400,
        height: 200,
        presets: { square: { width: 300, height: 300, fit: 'cover' } },
        widths: [100, 800, 2000],
      };
      const tight = resolveImageResizeOptions({ maxOutputWidth: 1000 });
      expect(
        attributesOf(route, '/p', { choose: { preset: 'square' }, limits: tight, descriptors: 'w' }),
      ).toEqual({
        src: '/p?preset=square',
        srcset: '/p?preset=square&w=100 100w, /p?preset=square 300w, /p?preset=square&w=800 800w',
        width: 300,
        height: 300,
      });
    });
  });

  describe('a signed route', () => {
    it('signs every URL, 1x and 2x as dpr', () => {
      const attributes = attributesOf(SIGNED, '/signed/a%20b', {
        signer: sign,
        choose: { width: 300, height: 200 },
        intrinsic: AURORA,
      });
      const [src, x1, x2] = urlsOf(attributes);
      expect(src.url).toMatch(/^\/signed\/a%20b\?h=200&w=300&sig=[\w-]+$/);
      expect([x1.url, x1.descriptor]).toEqual([src.url, '1x']);
      expect(x2.url).toMatch(/^\/signed\/a%20b\?dpr=2&h=200&w=300&sig=[\w-]+$/);
      expect(x2.descriptor).toBe('2x');
      expect([attributes.width, attributes.height]).toEqual([200, 200]);
      // Tampering is refused: the signature covers every parameter.
      expect(() => asTheRouteReadsIt(SIGNED, x2.url.replace('dpr=2', 'dpr=3'))).toThrow('signature');
    });

    it('signs the chosen format, fit and quality, and a width ladder within the limits and the original', () => {
      const attributes = attributesOf(SIGNED, '/signed/a', {
        signer: sign,
        choose: { width: 400, height: 300, format: 'avif', fit: 'cover', quality: 40 },
        sizes: '100vw',
        intrinsic: { width: 1500, height: 1000 },
        limits: resolveImageResizeOptions({ maxOutputWidth: 2000, signing: { keys: [KEY] } }),
      });
      const urls = urlsOf(attributes).slice(1);
      // cover sends each width as asked; 1920x1440 is the first with all of the 1500x1000 original's
      // pixels, so the 2560 (which only enlarges it more) is left out, as the limits would anyway.
      expect(urls.map(({ descriptor }) => descriptor)).toEqual([
        '320w',
        '400w',
        '640w',
        '960w',
        '1280w',
        '1920w',
      ]);
      for (const { url } of urls)
        expect(url).toMatch(/^\/signed\/a\?fit=cover&format=avif&h=\d+&q=40&w=\d+&sig=/);
      const spec = asTheRouteReadsIt(SIGNED, urls[2].url);
      expect([spec.width, spec.height, spec.format, spec.fit, spec.quality]).toEqual([
        640,
        480,
        'avif',
        'cover',
        40,
      ]);
      expect(DEFAULT_SIGNED_WIDTHS).toContain(2560); // refused by maxOutputWidth 2000
    });

    it('offers no image that only enlarges the original more than one already offered', () => {
      const cover = { signer: sign, intrinsic: { width: 500, height: 500 } };
      // 640x427 cover is the first with all 500 px; 960 and up would only enlarge it.
      expect(
        urlsOf(
          attributesOf(SIGNED, '/s', {
            ...cover,
            choose: { width: 300, height: 200, fit: 'cover' },
            sizes: '1px',
          }),
        )
          .slice(1)
          .map(({ descriptor }) => descriptor),
      ).toEqual(['300w', '320w', '640w']);
      // 300x300 cover of 200x200 enlarges already: no 2x, though the box is filled (width and height known).
      expect(
        attributesOf(SIGNED, '/s', {
          ...cover,
          intrinsic: { width: 200, height: 200 },
          choose: { width: 300, height: 300, fit: 'cover' },
        }),
      ).toEqual({ src: expect.stringMatching(/^\/s\?fit=cover&h=300&w=300&sig=/), width: 300, height: 300 });
    });

    it('takes its own size and the widths given; leaves out a 2x the limits refuse', () => {
      const route: ResizedImageOptions = { signed: true, width: 300, height: 300 };
      expect(
        urlsOf(
          attributesOf(route, '/s', {
            signer: sign,
            widths: [150, 600],
            intrinsic: AURORA,
            descriptors: 'w',
          }),
        ).map(({ descriptor }) => descriptor),
      ).toEqual([undefined, '150w', '300w', '600w']);
      const tight = resolveImageResizeOptions({ maxOutputWidth: 500 });
      expect(
        attributesOf(route, '/s', { signer: sign, limits: tight, intrinsic: AURORA }).srcset,
      ).toBeUndefined();
    });
  });

  describe('refuses', () => {
    const refuses = (
      route: ResizedImageOptions,
      options: Partial<ImageAttributesOptions>,
      message: RegExp,
      path = '/p',
    ) =>
      expect(() => imageAttributes(route, path, { limits, ...options })).toThrow(
        expect.objectContaining({ name: ImageAttributesError.name, message: expect.stringMatching(message) }),
      );

    it('a choice the route does not offer', () => {
      refuses(LOGO, { choose: { preset: 'huge' } }, /no preset "huge" \(its presets: small, large\)/);
      refuses(
        LOGO,
        { choose: { width: 300 } },
        /offers no image matching \{"width":300\}.*256x256 auto \(no query\).*\?preset=small/,
      );
      refuses(LOGO_SMALL, { choose: { format: 'webp' } }, /offers no image matching/);
      refuses(LOGO_SMALL, { choose: { preset: 'small' } }, /no preset "small" \(it has none\)/);
    });

    it('a route without a size of its own and no choice', () => {
      const route: ResizedImageOptions = { presets: { a: { width: 10, height: 10 } } };
      refuses(route, {}, /no size of its own: choose one of its presets \(a\)/);
      expect(attributesOf(route, '/p', { choose: { preset: 'a' } }).src).toBe('/p?preset=a');
    });

    it('a signed route without a signer, with a preset, without a size, or beyond the limits', () => {
      refuses(SIGNED, { choose: { width: 10, height: 10 } }, /give a signer/);
      refuses(SIGNED, { signer: sign, choose: { preset: 'a' } }, /ignores \?preset/);
      refuses(SIGNED, { signer: sign }, /no size of its own: choose \{ width, height \}/);
      refuses(SIGNED, { signer: sign, choose: { width: 5000, height: 10 } }, /refuses .*width/);
      refuses(
        SIGNED,
        { signer: sign, choose: { width: 10, height: 10, format: 'gif' as 'png' } },
        /refuses .*format/,
      );
      refuses(
        SIGNED,
        { signer: sign, choose: { width: 10, height: 10 }, widths: [100, 1.5], descriptors: 'w' },
        /whole CSS pixels/,
      );
      refuses(SIGNED, { signer: sign, choose: { width: 10, height: 10 }, densities: [1, 4] }, /1 to 3/);
    });

    it('a path that is not one, a bad original size, sizes with density descriptors', () => {
      refuses(LOGO, {}, /must start with "\/"/, 'assets/a/logo');
      refuses(LOGO, {}, /no query/, '/assets/a/logo?preset=large');
      refuses(LOGO, {}, /space/, '/assets/a b/logo');
      refuses(LOGO, { intrinsic: { width: 0, height: 10 } }, /whole pixels/);
      refuses(LOGO, { intrinsic: { width: 10.5, height: 10 } }, /whole pixels/);
      refuses(LOGO, { sizes: '100vw', descriptors: 'x' }, /sizes goes with width descriptors/);
    });
  });

  it('never makes a URL the route refuses, over many routes, choices and originals', () => {
    const routes: ResizedImageOptions[] = [
      LOGO,
      LOGO_SMALL,
      WIDTHS,
      { width: 333, height: 127, widths: [1, 17, 333, 999, 4096], fit: 'cover', format: 'jpeg' },
      { width: 640, height: 480, dpr: 1.5, widths: [320, 1280, 2730] },
      {
        presets: {
          a: { width: 64, height: 64, dpr: 3 },
          b: { width: 128, height: 128 },
          c: { width: 4000, height: 10 },
        },
      },
      {
        width: 100,
        height: 100,
        presets: { x2: { width: 200, height: 200 }, x3: { width: 300, height: 300 } },
        widths: [50, 150],
      },
    ];
    const originals = [
      undefined,
      AURORA,
      BASALT,
      COBALT,
      { width: 1, height: 4000 },
      { width: 5000, height: 3 },
    ];
    let checked = 0;
    for (const route of routes) {
      const presets = [undefined, ...Object.keys(route.presets ?? {})];
      for (const preset of presets) {
        for (const intrinsic of originals) {
          for (const descriptors of ['w', 'x'] as const) {
            let attributes: ImageAttributes;
            try {
              attributes = imageAttributes(route, '/r/%C3%A9t%C3%A9', {
                limits,
                intrinsic,
                descriptors,
                densities: [1, 1.5, 2, 3],
                choose: preset === undefined ? undefined : { preset },
              });
            } catch (error) {
              // Only a choice the route cannot serve may be refused (preset c is beyond maxOutputWidth).
              expect(error).toBeInstanceOf(ImageAttributesError);
              continue;
            }
            checked += expectAccepted(route, attributes).length;
            // Descriptors rise, each URL once, the src among them.
            const candidates = urlsOf(attributes).slice(1);
            const values = candidates.map(({ descriptor }) => parseFloat(descriptor as string));
            expect(values).toEqual([...values].sort((a, b) => a - b));
            expect(new Set(values).size).toBe(values.length);
            expect(new Set(candidates.map(({ url }) => url)).size).toBe(candidates.length);
            if (candidates.length > 0) expect(candidates.map(({ url }) => url)).toContain(attributes.src);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
  });
});
