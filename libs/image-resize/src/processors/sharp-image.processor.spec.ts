import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { InvalidImageError, SourceTooLargeError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { FitMode, OutputFormat, ResizeSpec, ResolvedResizeSpec } from '../spec/resize-spec.interface';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';
import { animatedGif } from '../../../../test/support/hostile-fixtures';
import * as containerChecks from './image-container.checks';
import { SharpImageProcessor } from './sharp-image.processor';
import { SharedInputFiles } from './shared-input.files';

const processor = new SharpImageProcessor(resolveImageResizeOptions({}));
afterAll(() => processor.onApplicationShutdown());
const spec = (extra: Partial<ResizeSpec> = {}): ResolvedResizeSpec =>
  resolveResizeSpec({ width: 256, height: 256, ...extra }, resolveImageResizeOptions({}));

/** A wide PNG: transparent, with an opaque red square in the middle. */
const widePng = () =>
  sharp({ create: { width: 1200, height: 600, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([
      {
        input: { create: { width: 200, height: 200, channels: 4, background: '#ff0000' } },
        left: 500,
        top: 200,
      },
    ])
    .png()
    .toBuffer();

/** RGBA of one pixel of an encoded image. */
async function pixel(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [...data.subarray(offset, offset + 4)];
}

describe('SharpImageProcessor', () => {
  it.each<[FitMode, number, number]>([
    ['inside', 256, 128],
    ['cover', 256, 256],
    ['contain', 256, 256],
    ['fill', 256, 256],
  ])('fits 1200x600 into 256x256 with fit %s as %dx%d', async (fit, width, height) => {
    const out = await processor.process(await widePng(), spec({ fit }));
    expect([out.width, out.height]).toEqual([width, height]);
    const meta = await sharp(out.body).metadata();
    expect([meta.width, meta.height]).toEqual([width, height]);
  });

  it('never enlarges with inside', async () => {
    const small = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#00f' } })
      .png()
      .toBuffer();
    const out = await processor.process(small, spec());
    expect([out.width, out.height]).toEqual([96, 96]);
  });

  it('keeps transparency in PNG and flattens JPEG on white', async () => {
    const input = await widePng();
    const png = await processor.process(input, spec());
    expect((await pixel(png.body, 0, 0))[3]).toBe(0);
    expect(await pixel(png.body, 128, 64)).toEqual([255, 0, 0, 255]);
    const jpeg = await processor.process(input, spec({ format: 'jpeg' }));
    const corner = await pixel(jpeg.body, 0, 0);
    for (const channel of corner.slice(0, 3)) expect(channel).toBeGreaterThan(245);
  });

  it('applies the EXIF orientation', async () => {
    const landscape = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#0a0' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const out = await processor.process(landscape, spec({ format: 'jpeg' }));
    expect(out.height).toBeGreaterThan(out.width);
    expect((await sharp(out.body).metadata()).orientation).toBeUndefined();
  });

  it.each<[OutputFormat, string, string]>([
    ['png', 'image/png', '89504e47'],
    ['jpeg', 'image/jpeg', 'ffd8ff'],
    ['webp', 'image/webp', '52494646'],
    ['avif', 'image/avif', '00000'],
  ])('encodes %s as %s', async (format, contentType, magic) => {
    const out = await processor.process(await widePng(), spec({ format, width: 64, height: 64 }));
    expect(out.contentType).toBe(contentType);
    expect(out.format).toBe(format);
    expect(out.body.toString('hex').startsWith(magic)).toBe(true);
  });

  it.each([
    ['an HTML page', Buffer.from('<!doctype html><html><body>hi</body></html>')],
    ['an empty body', Buffer.alloc(0)],
    ['plain text', Buffer.from('GIF? no, just text')],
    [
      'an SVG',
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
      ),
    ],
  ])('refuses %s with 422', async (_name, input) => {
    const error = await processor.process(input, spec()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidImageError);
    expect((error as InvalidImageError).getStatus()).toBe(422);
  });

  it('uses the module\u2019s encoder settings unless the spec has its own', async () => {
    const input = await widePng();
    const coarse = resolveImageResizeOptions({ encoders: { webp: { quality: 5 } } });
    const coarseProcessor = new SharpImageProcessor(coarse);
    const at = (q?: number) =>
      coarseProcessor.process(
        input,
        resolveResizeSpec({ width: 256, height: 256, format: 'webp', quality: q }, coarse),
      );
    const defaults = await processor.process(input, spec({ format: 'webp' }));
    expect((await at()).body.length).toBeLessThan(defaults.body.length);
    expect((await at(80)).body.length).toBe(defaults.body.length);
    await coarseProcessor.onApplicationShutdown();
  });

  it('refuses a truncated PNG with 422', async () => {
    const png = await widePng();
    const error = await processor
      .process(png.subarray(0, Math.floor(png.length / 2)), spec())
      .catch((e) => e);
    expect(error).toBeInstanceOf(InvalidImageError);
  });

  it('refuses, from its header, an image with more pixels than maxInputPixels', async () => {
    const strict = new SharpImageProcessor(resolveImageResizeOptions({ maxInputPixels: 10_000 }));
    const png = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const error = await strict.process(png, spec()).catch((e: unknown) => e);
    await strict.onApplicationShutdown();
    expect(error).toBeInstanceOf(SourceTooLargeError);
    expect((error as SourceTooLargeError).getStatus()).toBe(422);
    expect((error as Error).message).toMatch(/200x200 pixels, more than the limit of 10000/);
  });

  describe('decoded-bytes budget (maxDecodedBytes), from the header', () => {
    const budget = new SharpImageProcessor(resolveImageResizeOptions({ maxDecodedBytes: 50_000 }));
    afterAll(() => budget.onApplicationShutdown());
    const flat = () => sharp({ create: { width: 100, height: 100, channels: 3, background: '#3a7' } });

    it.each([
      ['a 16-bit PNG', () => flat().toColourspace('rgb16').png().toBuffer()],
      ['a 10-bit AVIF', () => flat().avif({ bitdepth: 10, effort: 0 }).toBuffer()],
    ])('counts 2 bytes a sample for %s: 100x100 RGB takes 60000 bytes', async (_name, make) => {
      const error = await budget.process(await make(), spec()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceTooLargeError);
      expect((error as SourceTooLargeError).getStatus()).toBe(422);
      expect((error as Error).message).toBe(
        'Source image would take 60000 bytes decoded, more than the limit of 50000 bytes',
      );
    });

    it.each([
      ['an 8-bit PNG', () => flat().png().toBuffer()],
      ['an 8-bit AVIF', () => flat().avif({ effort: 0 }).toBuffer()],
    ])('accepts %s of the same size: 30000 bytes', async (_name, make) => {
      const out = await budget.process(await make(), spec({ width: 50, height: 50 }));
      expect([out.width, out.height]).toEqual([50, 50]);
    });

    it('counts every frame when every frame is decoded (animated WebP), else the first only', async () => {
      const gif = await animatedGif(200); // 10x10, 200 frames: 80000 bytes in all at 4 channels
      const error = await budget
        .process(gif, spec({ format: 'webp', animated: true }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceTooLargeError);
      const still = await budget.process(gif, spec({ format: 'webp' }));
      expect(still.format).toBe('webp');
    });
  });

  describe("the header of a JPEG or PNG, read in this process instead of the child's metadata()", () => {
    const strict = new SharpImageProcessor(
      resolveImageResizeOptions({ maxInputPixels: 30_000, maxDecodedBytes: 50_000 }),
    );
    afterAll(() => strict.onApplicationShutdown());
    const create = (channels: 3 | 4, width = 100, height = 100) =>
      sharp({ create: { width, height, channels, background: { r: 200, g: 40, b: 90, alpha: 0.5 } } });
    const corrupt = async () => {
      const jpeg = Buffer.from(await create(3).jpeg().toBuffer());
      jpeg[jpeg.indexOf(Buffer.from([0xff, 0xdb])) + 4] = 0x77; // a quantisation table numbered 7
      return jpeg;
    };

    /** The image `strict` makes, or the class and message of its refusal. */
    const outcome = (input: Buffer, extra: Partial<ResizeSpec>) =>
      strict.process(input, spec({ width: 40, height: 40, ...extra })).then(
        (out) => ({ format: out.format, body: out.body.toString('base64') }),
        (error: Error) => ({ error: error.constructor.name, message: error.message }),
      );

    it.each<[string, () => Promise<Buffer>, Partial<ResizeSpec>]>([
      ['an RGB JPEG', () => create(3).jpeg().toBuffer(), { format: 'webp' }],
      ['a CMYK JPEG', () => create(3).toColourspace('cmyk').jpeg().toBuffer(), { format: 'png' }],
      ['an opaque PNG, alpha fallback', () => create(3).png().toBuffer(), { format: 'auto' }],
      [
        'a palette PNG with tRNS, alpha fallback',
        () => create(4).png({ palette: true }).toBuffer(),
        { format: 'auto' },
      ],
      ['a JPEG over maxInputPixels', () => create(3, 200, 200).jpeg().toBuffer(), {}],
      ['an RGBA PNG over maxDecodedBytes', () => create(4, 120, 120).png().toBuffer(), {}],
      ['a 16-bit PNG over maxDecodedBytes', () => create(3).toColourspace('rgb16').png().toBuffer(), {}],
      ['a JPEG whose header libjpeg refuses', corrupt, {}],
      ['a truncated JPEG', async () => (await create(3).jpeg().toBuffer()).subarray(0, 300), {}],
    ])('answers %s as when the child reads the header itself', async (_name, make, extra) => {
      const input = await make();
      expect(containerChecks.readImageHeader(input)).toBeDefined();
      const withHeader = await outcome(input, extra);
      const read = jest.spyOn(containerChecks, 'readImageHeader').mockReturnValue(undefined);
      try {
        expect(await outcome(input, extra)).toEqual(withHeader);
        expect(read).toHaveBeenCalled();
      } finally {
        read.mockRestore();
      }
    });
  });

  describe('carrying the source to the child', () => {
    const shared = () => readdirSync('/dev/shm').filter((name) => name.startsWith('nestjs-image-resize-'));

    it('goes through a private file in /dev/shm, removed with the module, and gives the same bytes as the IPC channel', async () => {
      const viaFile = new SharpImageProcessor(resolveImageResizeOptions({}));
      const viaChannel = new SharpImageProcessor(resolveImageResizeOptions({}));
      // Where there is no shared-memory folder, the bytes go over the channel.
      (viaChannel as unknown as { inputs: SharedInputFiles }).inputs = new SharedInputFiles('/nonexistent');
      const before = shared();
      try {
        const input = await widePng();
        const [a, b] = [await viaFile.process(input, spec()), await viaChannel.process(input, spec())];
        expect(shared().filter((name) => !before.includes(name))).toHaveLength(1);
        expect(a.format).toBe('png');
        expect(a.body.equals(b.body)).toBe(true);
      } finally {
        await Promise.all([viaFile.onApplicationShutdown(), viaChannel.onApplicationShutdown()]);
      }
      expect(shared().filter((name) => !before.includes(name))).toEqual([]);
    });
  });
});
