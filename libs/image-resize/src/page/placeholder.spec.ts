import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFixtures } from '../../../../bench/lib/fixtures';
import { OriginalsService } from '../../../../src/originals/originals.service';
import { noisyJpeg, photoJpeg, transparentPng } from '../../../../test/support/fixtures';
import { InvalidImageError, SourceTooLargeError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import { blurredPlaceholderSvg, makePlaceholder, type Placeholder } from './placeholder';
import { ChildProcessPool } from '../processors/child-process.pool';
import { placeholderOf } from './placeholder.work';

/** The module's defaults, as the resize worker gets them. */
const { maxInputPixels, maxDecodedBytes, maxAnimationFrames, allowSvg } = resolveImageResizeOptions({});
const limits = { maxInputPixels, maxDecodedBytes, maxAnimationFrames, allowSvg };

/** Where the comparisons go for a person to look at (ignored by git). */
const OUTPUT = join(__dirname, '..', '..', '..', '..', 'test-output', 'placeholders');

const webpOf = (placeholder: Placeholder) =>
  Buffer.from(placeholder.dataUrl.slice('data:image/webp;base64,'.length), 'base64');

/** The distance between two `#rrggbb` colours, per channel at most. */
function colourDistance(a: string, b: string): number {
  const channels = (hex: string) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
  const [x, y] = [channels(a), channels(b)];
  return Math.max(...x.map((value, index) => Math.abs(value - y[index])));
}

/**
 * The original at 256 px, the placeholder as a browser shows it at the same size (upscaled, then
 * blurred as CSS `filter: blur(10px)` does) and its colour, side by side on a checkerboard.
 */
async function writeComparison(name: string, input: Buffer, placeholder: Placeholder): Promise<void> {
  const scale = 256 / Math.max(placeholder.width, placeholder.height);
  const width = Math.max(1, Math.round(placeholder.width * scale));
  const height = Math.max(1, Math.round(placeholder.height * scale));
  const original = await sharp(input).rotate().resize(width, height).png().toBuffer();
  const preview = await sharp(webpOf(placeholder))
    .resize(width, height, { kernel: 'cubic' })
    .blur(10)
    .png()
    .toBuffer();
  const swatch = await sharp({ create: { width, height, channels: 4, background: placeholder.color } })
    .png()
    .toBuffer();
  const checker = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="816" height="272"><defs><pattern id="c" width="32" height="32" patternUnits="userSpaceOnUse"><rect width="32" height="32" fill="#fff"/><rect width="16" height="16" fill="#e5e7eb"/><rect x="16" y="16" width="16" height="16" fill="#e5e7eb"/></pattern></defs><rect width="816" height="272" fill="url(#c)"/></svg>`,
  );
  const at = (column: number) => ({
    left: 8 + column * 272 + (256 - width) / 2,
    top: 8 + (256 - height) / 2,
  });
  await sharp(checker)
    .composite([
      { input: original, ...rounded(at(0)) },
      { input: preview, ...rounded(at(1)) },
      { input: swatch, ...rounded(at(2)) },
    ])
    .png()
    .toFile(join(OUTPUT, `${name}.png`));
}

const rounded = ({ left, top }: { left: number; top: number }) => ({
  left: Math.round(left),
  top: Math.round(top),
});

describe('placeholders', () => {
  const originals = new OriginalsService();
  let photo: Buffer;

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    await originals.onModuleInit();
    const dir = mkdtempSync(join(tmpdir(), 'placeholder-spec-'));
    try {
      await writeFixtures(dir); // the benchmark's 2048x1536 (3.1 MP) photo with grain
      photo = readFileSync(join(dir, 'photo.jpg'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const cases = () =>
    [
      // name, original, its size, whether it has transparency, its colour
      ['aurora', originals.get('aurora.png')!.body, [1200, 1200], true, '#a78df3'],
      ['basalt', originals.get('basalt.jpg')!.body, [800, 500], false, '#1f2937'],
      ['cobalt', originals.get('cobalt.png')!.body, [96, 96], true, '#1d4ed8'],
      ['photo-3mp', photo, [2048, 1536], false, undefined],
    ] as const;

  it('makes a WebP under 1 KB of each example logo and of a 3 MP photo, at their size and colour', async () => {
    const table: string[] = [];
    for (const [name, input, [width, height], transparent, colour] of cases()) {
      const placeholder = await makePlaceholder(input, limits);
      expect(placeholder.dataUrl).toMatch(/^data:image\/webp;base64,[A-Za-z0-9+/]+=*$/);
      expect(placeholder.bytes).toBe(placeholder.dataUrl.length);
      expect(placeholder.bytes).toBeLessThan(1024);
      expect([placeholder.width, placeholder.height]).toEqual([width, height]);
      expect(placeholder.color).toMatch(/^#[0-9a-f]{6}$/);
      if (colour) expect(colourDistance(placeholder.color, colour)).toBeLessThanOrEqual(12);
      const preview = await sharp(webpOf(placeholder)).metadata();
      expect(preview.format).toBe('webp');
      expect(Math.max(preview.width, preview.height)).toBe(16);
      expect(Math.abs(preview.width / preview.height - width / height)).toBeLessThan(0.1);
      expect(preview.hasAlpha).toBe(transparent);
      const svg = blurredPlaceholderSvg(placeholder);
      expect(svg.length).toBeLessThan(1024);
      table.push(`${name}: ${placeholder.bytes} bytes, ${svg.length} as SVG, ${placeholder.color}`);
      await writeComparison(name, input, placeholder);
    }
    expect(table).toHaveLength(4);
  });

  it('keeps the transparency of a logo: its corners stay transparent', async () => {
    const placeholder = await makePlaceholder(await transparentPng(), limits);
    const { data, info } = await sharp(webpOf(placeholder))
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([16, 8]);
    expect(data[3]).toBe(0); // top left
    expect(data[(info.width * info.height - 1) * 4 + 3]).toBe(0); // bottom right
    expect(data[((info.height / 2) * info.width + info.width / 2) * 4 + 3]).toBe(255); // the disc
    // The disc's blue, not the black of the transparent pixels.
    expect(colourDistance(placeholder.color, '#1d4ed8')).toBeLessThanOrEqual(12);
  });

  it('gives the colour that covers most of the image, not a mix of its colours', async () => {
    // Two halves, red and green: the mean would be a brown that is in neither.
    const placeholder = await makePlaceholder(await photoJpeg(), limits);
    expect(['#dc2626', '#16a34a'].some((colour) => colourDistance(placeholder.color, colour) <= 12)).toBe(
      true,
    );
    expect(await makePlaceholder(await noisyJpeg(), limits)).toMatchObject({ width: 96, height: 96 });
  });

  it('applies the EXIF orientation, and never enlarges a tiny original', async () => {
    const turned = await sharp({ create: { width: 300, height: 100, channels: 3, background: '#ff0000' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const placeholder = await makePlaceholder(turned, limits);
    expect([placeholder.width, placeholder.height]).toEqual([100, 300]);
    const preview = await sharp(webpOf(placeholder)).metadata();
    expect([preview.width, preview.height]).toEqual([5, 16]);
    const dot = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#00ff00' } })
      .png()
      .toBuffer();
    const tiny = await makePlaceholder(dot, limits);
    expect([tiny.width, tiny.height, tiny.color]).toEqual([1, 1, '#00ff00']);
    expect((await sharp(webpOf(tiny)).metadata()).width).toBe(1);
  });

  it('reads the input within the limits, as the resize worker does', async () => {
    const png = await transparentPng(); // 800x400
    await expect(makePlaceholder(png, { ...limits, maxInputPixels: 800 * 400 - 1 })).rejects.toThrow(
      expect.objectContaining({
        name: SourceTooLargeError.name,
        message: `Source image has 800x400 pixels, more than the limit of ${800 * 400 - 1}`,
      }),
    );
    await expect(makePlaceholder(png, { ...limits, maxDecodedBytes: 1000 })).rejects.toBeInstanceOf(
      SourceTooLargeError,
    );
    await expect(makePlaceholder(Buffer.from('not an image'), limits)).rejects.toThrow(
      expect.objectContaining({ name: InvalidImageError.name, message: 'Source is not a supported image' }),
    );
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    await expect(makePlaceholder(svg, limits)).rejects.toThrow('SVG sources are not accepted');
    expect((await makePlaceholder(svg, { ...limits, allowSvg: true })).width).toBe(10);
    // A PNG cut short: sharp's failOn 'error' refuses it rather than showing half an image.
    const cut = png.subarray(0, Math.floor(png.length / 2));
    await expect(makePlaceholder(cut, limits)).rejects.toThrow(InvalidImageError);
    await expect(makePlaceholder(png, limits, { size: 0 })).rejects.toThrow('size must be 1 to 64');
    await expect(makePlaceholder(png, limits, { quality: 101 })).rejects.toThrow('quality must be 1 to 100');
  });

  it('runs from its source text alone, in a child of the pool', async () => {
    const input = originals.get('aurora.png')!.body;
    const revived = new Function(`return (${placeholderOf.toString()})`)() as typeof placeholderOf;
    const here = await placeholderOf(sharp, input, limits);
    expect(await revived(sharp, input, limits)).toEqual(here);
    const pool = new ChildProcessPool(1);
    try {
      const task = pool.run(placeholderOf, [require.resolve('sharp'), input, limits, {}], 10_000);
      expect(await task.result).toEqual(here);
      expect(pool.pids).toHaveLength(1);
      const refused = pool.run(
        placeholderOf,
        [require.resolve('sharp'), Buffer.from('x'), limits, {}],
        10_000,
      );
      await expect(refused.result).rejects.toMatchObject({
        kind: 'invalid',
        message: 'Source is not a supported image',
      });
    } finally {
      await pool.close();
    }
  });

  it('wraps the placeholder in an SVG that blurs it, escaped for a URL', async () => {
    const svgText = (url: string) => decodeURIComponent(url.slice('data:image/svg+xml,'.length));
    const opaque = await makePlaceholder(originals.get('basalt.jpg')!.body, limits);
    const svg = blurredPlaceholderSvg(opaque);
    expect(svg).toMatch(
      /^data:image\/svg\+xml,%3Csvg%20xmlns=%27http:\/\/www.w3.org\/2000\/svg%27%20viewBox=%270%200%2016%2010%27%3E/,
    );
    expect(svg).not.toMatch(/[<>#"\s]/);
    expect(svgText(svg)).toContain(`<feGaussianBlur stdDeviation='0.6'/>`);
    expect(svgText(svg)).toContain(`href='${opaque.dataUrl}'`);
    // An opaque image gets its opacity back after the blur; a transparent one keeps its transparency.
    expect(svgText(svg)).toContain('<feFuncA');
    const transparent = await makePlaceholder(originals.get('aurora.png')!.body, limits);
    expect(svgText(blurredPlaceholderSvg(transparent, 1))).not.toContain('<feFuncA');
    expect(svgText(blurredPlaceholderSvg(transparent, 1))).toContain(`stdDeviation='1'`);
    // An SVG reader (librsvg) reads it, at the placeholder's proportions.
    const rendered = await sharp(Buffer.from(svgText(svg))).metadata();
    expect([rendered.format, rendered.width / rendered.height]).toEqual(['svg', 1.6]);
    expect(() => blurredPlaceholderSvg({ ...opaque, dataUrl: 'javascript:alert(1)' })).toThrow(TypeError);
    expect(() => blurredPlaceholderSvg(opaque, -1)).toThrow(RangeError);
  });
});
