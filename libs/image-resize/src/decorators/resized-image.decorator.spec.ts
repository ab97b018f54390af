import 'reflect-metadata';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { ResizedImage, type ResizedImageOptions } from './resized-image.decorator';

/** The message that `@ResizedImage(options)` is refused with, when the class is defined. */
function refusal(options: unknown): string {
  try {
    ResizedImage(options as ResizedImageOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('@ResizedImage() options', () => {
  it('takes a size, presets, allowed widths or signed: true', () => {
    expect(() => ResizedImage({ width: 64, height: 64, widths: [32, 128] })).not.toThrow();
    expect(() => ResizedImage({ presets: { small: { width: 32, height: 32 }, 'x-2_b': {} } })).not.toThrow();
    expect(() => ResizedImage({ signed: true, cacheControl: { sMaxAge: 0, immutable: true } })).not.toThrow();
  });

  it.each([
    [{}, '@ResizedImage() needs width and height, presets, or signed: true'],
    [
      { presets: {} },
      '@ResizedImage() presets must be a non-empty object of presets named with 1 to 40 letters, digits, "_" or "-" (got an empty object)',
    ],
    [
      { presets: { small: { width: 1, height: 1 }, 'a b': { width: 2, height: 2 } } },
      '@ResizedImage() presets must be a non-empty object of presets named with 1 to 40 letters, digits, "_" or "-" (got the name "a b")',
    ],
    [
      { presets: { small: {} }, widths: [10] },
      '@ResizedImage() widths need the route\u2019s width and height',
    ],
    [
      { width: 100, height: 100, widths: [] },
      '@ResizedImage() widths must be a non-empty array of integers >= 1 (got an empty array)',
    ],
    [
      { width: 100, height: 100, widths: '100' },
      '@ResizedImage() widths must be a non-empty array of integers >= 1 (got a string "100")',
    ],
    [
      { width: 100, height: 100, widths: [50, 12.5] },
      '@ResizedImage() widths[1] must be an integer >= 1 (got the number 12.5)',
    ],
    [
      { width: 10, height: 10, cacheControl: { sMaxAge: '60' } },
      '@ResizedImage() cacheControl.sMaxAge must be an integer >= 0 (got a string "60")',
    ],
    [
      { width: 10, height: 10, cacheControl: { immutable: 'yes' } },
      '@ResizedImage() cacheControl.immutable must be a boolean (got a string "yes")',
    ],
    [
      { width: 10, height: 10, cacheControl: { maxAge: 60 } },
      '@ResizedImage() cacheControl must be an object { private?, sMaxAge?, immutable? } (got the unknown key "maxAge")',
    ],
    [
      { width: 10, height: 10, cacheControl: 'public' },
      '@ResizedImage() cacheControl must be an object { private?, sMaxAge?, immutable? } (got a string "public")',
    ],
    [
      { width: 10, height: 10, cacheControl: { private: true, immutable: true } },
      '@ResizedImage() cacheControl must be private: true without sMaxAge or immutable: true, which are for public images that CDNs may keep (got private: true with immutable: true)',
    ],
  ])('refuses %j when the class is defined, naming the field', (options, message) => {
    expect(refusal(options)).toBe(`ImageResizeModule: ${message}`);
  });

  it('refuses width 0 in the same words as the options, a spec and a query do', () => {
    expect(refusal({ width: 100, height: 100, widths: [0] })).toBe(
      'ImageResizeModule: @ResizedImage() widths[0] must be an integer >= 1 (got the number 0)',
    );
    expect(refusal({ width: 100, height: 100, cacheControl: { sMaxAge: -1 } })).toBe(
      'ImageResizeModule: @ResizedImage() cacheControl.sMaxAge must be an integer >= 0 (got the number -1)',
    );
  });
});
