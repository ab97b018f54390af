import { InvalidResizeSpecError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { ResizeSpec } from './resize-spec.interface';
import { resolveResizeSpec } from './resize-spec.resolver';

const options = resolveImageResizeOptions({});

/** The message of the 400 that `spec` is refused with. */
function refusal(spec: unknown): string {
  try {
    resolveResizeSpec(spec as ResizeSpec, options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidResizeSpecError);
    expect((error as InvalidResizeSpecError).getStatus()).toBe(400);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(spec)} to be refused`);
}

describe('resolveResizeSpec', () => {
  it('applies the defaults', () => {
    expect(resolveResizeSpec({ width: 10, height: 20 }, options)).toEqual({
      width: 10,
      height: 20,
      format: 'png',
      alphaFallback: false,
      negotiated: false,
      fit: 'inside',
      position: 'centre',
      background: undefined,
      withoutEnlargement: true,
      quality: undefined,
      palette: false,
      effort: 3,
      animated: false,
      ttl: options.ttl,
      redraw: false,
      cacheKey: undefined,
    });
    expect(resolveResizeSpec({ width: 10, height: 20, format: 'jpeg', dpr: 2 }, options)).toMatchObject({
      width: 20,
      height: 40,
      quality: 80,
    });
  });

  it.each([
    [null, 'resize spec must be an object { width, height, ... } (got null)'],
    ['10x10', 'resize spec must be an object { width, height, ... } (got a string "10x10")'],
    [{ width: 0, height: 10 }, 'width must be an integer from 1 to 4096 (got the number 0)'],
    [{ width: 10.5, height: 10 }, 'width must be an integer from 1 to 4096 (got the number 10.5)'],
    [{ width: '10', height: 10 }, 'width must be an integer from 1 to 4096 (got a string "10")'],
    [{ width: 10 }, 'height must be an integer from 1 to 4096 (got undefined)'],
    [{ width: 10, height: 5000 }, 'height must be an integer from 1 to 4096 (got the number 5000)'],
    [
      { width: 3000, height: 10, dpr: 2 },
      'width must be an integer from 1 to 4096 once multiplied by dpr 2 (got the number 3000)',
    ],
    [{ width: 10, height: 10, dpr: 4 }, 'dpr must be a number from 1 to 3 (got the number 4)'],
    [{ width: 10, height: 10, dpr: '2' }, 'dpr must be a number from 1 to 3 (got a string "2")'],
    [{ width: 10, height: 10, dpr: NaN }, 'dpr must be a number from 1 to 3 (got NaN)'],
    [
      { width: 10, height: 10, format: 'gif' },
      'format must be one of png, jpeg, webp, avif, auto (got a string "gif")',
    ],
    [
      { width: 10, height: 10, format: 'auto', fallback: 'auto' },
      'fallback must be one of png, jpeg, webp, avif (got a string "auto")',
    ],
    [
      { width: 10, height: 10, fit: 'stretch' },
      'fit must be one of inside, cover, contain, fill, outside (got a string "stretch")',
    ],
    [
      { width: 10, height: 10, fit: null },
      'fit must be one of inside, cover, contain, fill, outside (got null)',
    ],
    [
      { width: 10, height: 10, position: 'middle' },
      'position must be one of centre, top, right, bottom, left, right top, right bottom, left bottom, left top, attention, entropy (got a string "middle")',
    ],
    [
      { width: 10, height: 10, background: 'white' },
      'background must be a hex colour such as #ffffff or #00000000 (got a string "white")',
    ],
    [
      { width: 10, height: 10, withoutEnlargement: 'yes' },
      'withoutEnlargement must be a boolean (got a string "yes")',
    ],
    [{ width: 10, height: 10, quality: 0 }, 'quality must be an integer from 1 to 100 (got the number 0)'],
    [
      { width: 10, height: 10, quality: 101 },
      'quality must be an integer from 1 to 100 (got the number 101)',
    ],
    [{ width: 10, height: 10, quality: null }, 'quality must be an integer from 1 to 100 (got null)'],
    [{ width: 10, height: 10, palette: 1 }, 'palette must be a boolean (got the number 1)'],
    [{ width: 10, height: 10, animated: 'no' }, 'animated must be a boolean (got a string "no")'],
    [{ width: 10, height: 10, ttl: 0 }, 'ttl must be an integer >= 1 (got the number 0)'],
    [{ width: 10, height: 10, ttl: 1.5 }, 'ttl must be an integer >= 1 (got the number 1.5)'],
  ])('refuses %j with a 400 that names the field, what it takes and what it got', (spec, message) => {
    expect(refusal(spec)).toBe(message);
  });

  it('refuses width 0 and quality 0 or 101 in the same words as the options, a route and a query do', () => {
    expect(refusal({ width: 0, height: 10 })).toBe(
      'width must be an integer from 1 to 4096 (got the number 0)',
    );
    expect(refusal({ width: 10, height: 10, format: 'webp', quality: 0 })).toBe(
      'quality must be an integer from 1 to 100 (got the number 0)',
    );
    expect(refusal({ width: 10, height: 10, format: 'jpeg', quality: 101 })).toBe(
      'quality must be an integer from 1 to 100 (got the number 101)',
    );
  });

  it('takes null for the defaults where it always has (dpr, format, ttl)', () => {
    const spec = { width: 10, height: 10, dpr: null, format: null, ttl: null } as unknown as ResizeSpec;
    expect(resolveResizeSpec(spec, options)).toMatchObject({ width: 10, format: 'png', ttl: options.ttl });
  });
});
