import { InvalidResizeSpecError, InvalidSignatureError } from '../errors/image-resize.errors';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import type { QueryValues } from '../signing/url-signer';
import { specFromRequest } from './request-spec.resolver';

const valid = () => true;
const invalid = () => false;

/** The message of the 400 that `query` gets on a route with `options` (a valid signature, if asked). */
function refusal(options: ResizedImageOptions, query: QueryValues): string {
  try {
    specFromRequest(options, query, valid);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidResizeSpecError);
    expect((error as InvalidResizeSpecError).getStatus()).toBe(400);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(query)} to be refused`);
}

describe('specFromRequest', () => {
  const presets: ResizedImageOptions = {
    width: 128,
    height: 128,
    presets: { small: { width: 64, height: 64 }, large: { width: 512, height: 512, format: 'webp' } },
  };

  it('uses the route, or the preset the request names', () => {
    expect(specFromRequest(presets, {}, invalid)).toMatchObject({ width: 128, height: 128 });
    expect(specFromRequest(presets, { preset: 'large' }, invalid)).toMatchObject({
      width: 512,
      height: 512,
      format: 'webp',
    });
  });

  it('refuses an unknown preset, a repeated one, and a missing one where the route has no size', () => {
    expect(() => specFromRequest(presets, { preset: 'huge' }, invalid)).toThrow(InvalidResizeSpecError);
    expect(refusal(presets, { preset: 'huge' })).toBe(
      '?preset must be one of small, large (got a string "huge")',
    );
    expect(refusal(presets, { preset: 'toString' })).toBe(
      '?preset must be one of small, large (got a string "toString")',
    );
    expect(refusal(presets, { preset: ['small', 'large'] })).toBe(
      '?preset must be a single value (got an array)',
    );
    const onlyPresets: ResizedImageOptions = { presets: { small: { width: 64, height: 64 } } };
    expect(refusal(onlyPresets, {})).toBe('?preset must be one of small (got undefined)');
    const sizeless: ResizedImageOptions = { presets: { webp: { format: 'webp' } } };
    expect(refusal(sizeless, { preset: 'webp' })).toBe(
      '?preset must be a preset with a width and height (got a string "webp")',
    );
  });

  it('takes a width from the allowlist and keeps the aspect ratio', () => {
    const widths: ResizedImageOptions = { width: 200, height: 100, widths: [100, 400] };
    expect(specFromRequest(widths, { w: '400' }, invalid)).toMatchObject({ width: 400, height: 200 });
    expect(specFromRequest(widths, {}, invalid)).toMatchObject({ width: 200, height: 100 });
    expect(refusal(widths, { w: '300' })).toBe('?w must be one of 100, 400 (got the number 300)');
    expect(refusal(widths, { w: 'abc' })).toBe('?w must be an integer from 1 to 99999 (got a string "abc")');
    expect(refusal(widths, { w: '123456' })).toBe(
      '?w must be an integer from 1 to 99999 (got a string "123456")',
    );
    expect(specFromRequest(widths, { w: '0400' }, invalid)).toMatchObject({ width: 400, height: 200 });
  });

  it('ignores size parameters on a route that offers none', () => {
    expect(specFromRequest({ width: 64, height: 64 }, { w: '4000', h: '4000' }, invalid)).toMatchObject({
      width: 64,
      height: 64,
    });
  });

  it('takes free sizes only with a valid signature', () => {
    const signed: ResizedImageOptions = { signed: true, format: 'png' };
    expect(() => specFromRequest(signed, { w: '320', h: '320' }, invalid)).toThrow(InvalidSignatureError);
    expect(() => specFromRequest(signed, { w: '320', h: '320', exp: '1' }, invalid)).toThrow(
      /invalid or expired signature/,
    );
    // The expiry is the signer's business: it is no part of the spec, so it never splits the cache.
    expect(specFromRequest(signed, { w: '320', h: '200', exp: '1893456060' }, valid)).toEqual(
      specFromRequest(signed, { w: '320', h: '200' }, valid),
    );
    expect(
      specFromRequest(signed, { w: '320', h: '200', format: 'webp', q: '70', dpr: '2' }, valid),
    ).toMatchObject({
      width: 320,
      height: 200,
      format: 'webp',
      quality: 70,
      dpr: 2,
    });
  });

  it('refuses width 0 and a bad quality in the same words as the options, a route and a spec do', () => {
    const signed: ResizedImageOptions = { signed: true };
    expect(refusal(signed, { w: '0', h: '10' })).toBe(
      '?w must be an integer from 1 to 99999 (got a string "0")',
    );
    expect(refusal(signed, { w: '10', h: '000' })).toBe(
      '?h must be an integer from 1 to 99999 (got a string "000")',
    );
    expect(refusal(signed, { w: '10', h: '10', q: '-1' })).toBe(
      '?q must be an integer from 1 to 99999 (got a string "-1")',
    );
    expect(refusal(signed, { w: '10', h: '10', q: ['1', '2'] })).toBe(
      '?q must be a single value (got an array)',
    );
    // In range for a query, out of range for a spec: the spec's own check says so (resize-spec.resolver.spec.ts).
    expect(specFromRequest(signed, { w: '10', h: '10', q: '101' }, valid)).toMatchObject({ quality: 101 });
  });
});
