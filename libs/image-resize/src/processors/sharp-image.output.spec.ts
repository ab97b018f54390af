import sharp, { type Sharp } from 'sharp';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { ResizeSpec } from '../spec/resize-spec.interface';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';
import { SharpImageProcessor } from './sharp-image.processor';

/** Pixel-level checks of what the processor outputs: orientation, colour, alpha, transforms. */
const options = resolveImageResizeOptions({});
const processor = new SharpImageProcessor(options);
afterAll(() => processor.onApplicationShutdown());
const run = (input: Buffer, spec: Partial<ResizeSpec> = {}) =>
  processor.process(input, resolveResizeSpec({ width: 256, height: 256, ...spec }, options));

type RGBA = [number, number, number, number];

async function pixelAt(image: Buffer, x: number, y: number): Promise<RGBA> {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [data[offset], data[offset + 1], data[offset + 2], data[offset + 3]];
}

function expectColour(actual: RGBA, expected: [number, number, number], tolerance = 24): void {
  for (let i = 0; i < 3; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(tolerance);
}

const RED: [number, number, number] = [220, 30, 30];
const BLUE: [number, number, number] = [30, 30, 220];
const GREEN: [number, number, number] = [30, 200, 30];

/** 60x30, upright: a green band on top, red bottom-left, blue bottom-right. Asymmetric under every flip and turn. */
function upright(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="60" height="30">
    <rect width="30" height="30" fill="rgb(${RED})"/><rect x="30" width="30" height="30" fill="rgb(${BLUE})"/>
    <rect width="60" height="10" fill="rgb(${GREEN})"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

const step = (input: Buffer, op: (image: Sharp) => Sharp) => op(sharp(input)).png().toBuffer();

/** The stored pixels of an image that shows `upright` once EXIF orientation `o` is applied. */
async function storedFor(orientation: number): Promise<Buffer> {
  const u = await upright();
  switch (orientation) {
    case 1:
      return u;
    case 2:
      return step(u, (i) => i.flop());
    case 3:
      return step(u, (i) => i.rotate(180));
    case 4:
      return step(u, (i) => i.flip());
    case 5: // transpose: its own inverse
      return step(await step(u, (i) => i.rotate(90)), (i) => i.flop());
    case 6: // shown turned 90 degrees clockwise: stored turned back
      return step(u, (i) => i.rotate(270));
    case 7: // transverse: its own inverse
      return step(await step(u, (i) => i.rotate(90)), (i) => i.flip());
    case 8:
      return step(u, (i) => i.rotate(90));
  }
  throw new Error(`orientation ${orientation}`);
}

describe('SharpImageProcessor output', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('turns EXIF orientation %i upright', async (orientation) => {
    const stored = await sharp(await storedFor(orientation))
      .jpeg({ quality: 95 })
      .withMetadata({ orientation })
      .toBuffer();
    const out = await run(stored);
    expect([out.width, out.height]).toEqual([60, 30]);
    expectColour(await pixelAt(out.body, 30, 3), GREEN);
    expectColour(await pixelAt(out.body, 5, 25), RED);
    expectColour(await pixelAt(out.body, 55, 25), BLUE);
  });

  it.each([
    ['with an embedded CMYK profile', true],
    ['without a profile', false],
  ])('renders a CMYK JPEG %s in sRGB colours', async (_name, withProfile) => {
    let cmyk = sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 200, g: 40, b: 40 } } })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 });
    if (withProfile) cmyk = cmyk.withIccProfile('cmyk');
    const input = await cmyk.toBuffer();
    expect((await sharp(input).metadata()).space).toBe('cmyk');
    const out = await run(input);
    expect((await sharp(out.body).metadata()).space).toBe('srgb');
    expectColour(await pixelAt(out.body, 20, 20), [200, 40, 40], 40);
  });

  it('strips metadata: no EXIF, no GPS, no profile', async () => {
    const input = await sharp({ create: { width: 50, height: 50, channels: 3, background: '#888' } })
      .jpeg()
      .withExif({ IFD0: { Copyright: 'someone', Artist: 'someone' }, IFD3: { GPSLatitudeRef: 'N' } })
      .toBuffer();
    expect((await sharp(input).metadata()).exif).toBeDefined();
    for (const format of ['jpeg', 'png', 'webp'] as const) {
      const meta = await sharp((await run(input, { format })).body).metadata();
      expect(meta.exif).toBeUndefined();
      expect(meta.icc).toBeUndefined();
    }
  });

  it('reads 16-bit PNG, grey with alpha, palette with transparency, interlaced PNG and progressive JPEG', async () => {
    const base = sharp({
      create: { width: 64, height: 64, channels: 4, background: { r: 200, g: 40, b: 40, alpha: 1 } },
    }).composite([
      {
        input: { create: { width: 32, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } },
        left: 0,
        top: 0,
        blend: 'dest-out',
      },
    ]);
    const rgba = await base.png().toBuffer();
    const sixteen = await sharp(rgba).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(sixteen).metadata()).depth).toBe('ushort');
    const greyAlpha = await sharp(rgba).toColourspace('b-w').png().toBuffer();
    expect((await sharp(greyAlpha).metadata()).channels).toBe(2);
    const palette = await sharp(rgba).png({ palette: true }).toBuffer();
    expect((await sharp(palette).metadata()).isPalette).toBe(true);
    const interlaced = await sharp(rgba).png({ progressive: true }).toBuffer();
    expect((await sharp(interlaced).metadata()).isProgressive).toBe(true);

    for (const input of [sixteen, palette, interlaced]) {
      const out = await run(input, { format: 'png' });
      expect((await pixelAt(out.body, 5, 32))[3]).toBe(0);
      expectColour(await pixelAt(out.body, 50, 32), [200, 40, 40]);
    }
    const grey = await run(greyAlpha, { format: 'png' });
    expect((await pixelAt(grey.body, 5, 32))[3]).toBe(0);
    expect((await pixelAt(grey.body, 50, 32))[3]).toBe(255);

    const progressive = await sharp(rgba)
      .flatten({ background: '#fff' })
      .jpeg({ progressive: true })
      .toBuffer();
    expect((await sharp(progressive).metadata()).isProgressive).toBe(true);
    const out = await run(progressive, { format: 'jpeg' });
    expect((await sharp(out.body).metadata()).isProgressive).toBe(true);
    expectColour(await pixelAt(out.body, 50, 32), [200, 40, 40]);
  });

  it('keeps alpha in WebP and AVIF', async () => {
    const input = await upright();
    const withHole = await sharp(input)
      .ensureAlpha()
      .composite([
        {
          input: {
            create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } },
          },
          left: 0,
          top: 20,
          blend: 'dest-out',
        },
      ])
      .png()
      .toBuffer();
    for (const format of ['webp', 'avif'] as const) {
      const out = await run(withHole, { format });
      expect((await pixelAt(out.body, 3, 27))[3]).toBeLessThan(20);
      expect((await pixelAt(out.body, 45, 25))[3]).toBeGreaterThan(235);
    }
  });

  it.each<[Partial<ResizeSpec>, number, number]>([
    [{ fit: 'inside' }, 256, 128],
    [{ fit: 'outside' }, 512, 256],
    [{ fit: 'cover' }, 256, 256],
    [{ fit: 'contain' }, 256, 256],
    [{ fit: 'fill' }, 256, 256],
    [{ fit: 'inside', dpr: 2, width: 100, height: 100 }, 200, 100],
    [{ fit: 'cover', dpr: 1.5, width: 100, height: 100 }, 150, 150],
  ])('gives exact dimensions for %j', async (spec, width, height) => {
    const wide = await sharp({ create: { width: 1200, height: 600, channels: 3, background: '#345' } })
      .png()
      .toBuffer();
    const out = await run(wide, spec);
    expect([out.width, out.height]).toEqual([width, height]);
  });

  it('enlarges only when withoutEnlargement is false', async () => {
    const small = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#345' } })
      .png()
      .toBuffer();
    expect((await run(small)).width).toBe(32);
    expect((await run(small, { withoutEnlargement: false })).width).toBe(256);
    expect((await run(small, { fit: 'cover' })).width).toBe(256);
    expect((await run(small, { fit: 'cover', withoutEnlargement: true })).width).toBe(32);
  });

  it('pads contain with the background colour', async () => {
    const wide = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#00f' } })
      .png()
      .toBuffer();
    const out = await run(wide, {
      fit: 'contain',
      background: '#ff0000',
      format: 'png',
      width: 100,
      height: 100,
    });
    expectColour(await pixelAt(out.body, 50, 5), [255, 0, 0], 2);
    expectColour(await pixelAt(out.body, 50, 50), [0, 0, 255], 2);
  });

  it('crops cover towards the busy part with entropy, and to a side with a position', async () => {
    const noise = Buffer.alloc(200 * 200 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + (i >> 3) * 104729) % 251;
    const halfBusy = await sharp({ create: { width: 400, height: 200, channels: 3, background: '#808080' } })
      .composite([{ input: noise, raw: { width: 200, height: 200, channels: 3 }, left: 200, top: 0 }])
      .png()
      .toBuffer();
    const spread = async (position: ResizeSpec['position']) => {
      const out = await run(halfBusy, { fit: 'cover', position, width: 100, height: 100 });
      const { channels } = await sharp(out.body).stats();
      return channels[0].stdev;
    };
    expect(await spread('entropy')).toBeGreaterThan(10);
    expect(await spread('right')).toBeGreaterThan(10);
    expect(await spread('left')).toBeLessThan(1);
  });

  it('makes a flat logo smaller with a PNG palette', async () => {
    const logo = await upright();
    const plain = await run(logo, { width: 200, height: 200, withoutEnlargement: false });
    const quantised = await run(logo, { width: 200, height: 200, withoutEnlargement: false, palette: true });
    expect(quantised.body.length).toBeLessThan(plain.body.length);
    expectColour(await pixelAt(quantised.body, 20, 80), RED, 8);
  });

  it('falls back to PNG for a transparent image and to JPEG for an opaque one', async () => {
    const transparent = await sharp({
      create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const opaque = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#345' } })
      .jpeg()
      .toBuffer();
    expect((await run(transparent, { format: 'auto', accept: '*/*' })).format).toBe('png');
    expect((await run(opaque, { format: 'auto', accept: '*/*' })).format).toBe('jpeg');
    expect((await run(opaque, { format: 'auto', accept: 'image/webp' })).format).toBe('webp');
  });

  it('keeps the frames of an animated GIF in WebP only when asked, within the frame cap', async () => {
    const frames = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        sharp({ create: { width: 20, height: 20, channels: 3, background: { r: i * 60, g: 0, b: 0 } } })
          .png()
          .toBuffer(),
      ),
    );
    const gif = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    const still = await run(gif, { format: 'webp', width: 10, height: 10 });
    expect((await sharp(still.body).metadata()).pages ?? 1).toBe(1);
    const animated = await run(gif, { format: 'webp', width: 10, height: 10, animated: true });
    const meta = await sharp(animated.body, { animated: true }).metadata();
    expect([meta.pages, meta.width, meta.pageHeight]).toEqual([4, 10, 10]);
    const png = await run(gif, { format: 'png', width: 10, height: 10, animated: true });
    expect([png.width, png.height]).toEqual([10, 10]);
  });
});
