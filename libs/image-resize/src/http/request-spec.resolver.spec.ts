import { InvalidResizeSpecError, InvalidSignatureError } from '../errors/image-resize.errors';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { specFromRequest } from './request-spec.resolver';

const valid = () => true;
const invalid = () => false;

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
    expect(() => specFromRequest(presets, { preset: 'toString' }, invalid)).toThrow(/one of small, large/);
    expect(() => specFromRequest(presets, { preset: ['small', 'large'] }, invalid)).toThrow(/given once/);
    const onlyPresets: ResizedImageOptions = { presets: { small: { width: 64, height: 64 } } };
    expect(() => specFromRequest(onlyPresets, {}, invalid)).toThrow(/\?preset is required/);
  });

  it('takes a width from the allowlist and keeps the aspect ratio', () => {
    const widths: ResizedImageOptions = { width: 200, height: 100, widths: [100, 400] };
    expect(specFromRequest(widths, { w: '400' }, invalid)).toMatchObject({ width: 400, height: 200 });
    expect(specFromRequest(widths, {}, invalid)).toMatchObject({ width: 200, height: 100 });
    expect(() => specFromRequest(widths, { w: '300' }, invalid)).toThrow(/\?w must be one of 100, 400/);
    expect(() => specFromRequest(widths, { w: 'abc' }, invalid)).toThrow(/positive integer/);
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
});
