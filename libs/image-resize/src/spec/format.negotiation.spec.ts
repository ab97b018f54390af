import { resolveImageResizeOptions } from '../options/image-resize.options';
import { negotiateImageFormat } from './format.negotiation';
import { resolveResizeSpec } from './resize-spec.resolver';

describe('negotiateImageFormat', () => {
  it.each([
    ['Chrome', 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif'],
    ['Firefox', 'image/avif,image/webp,*/*', 'avif'],
    [
      'Safari 16',
      'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
      'avif',
    ],
    ['WebP only', 'image/webp,*/*', 'webp'],
    ['WebP preferred by q', 'image/webp;q=1, image/avif;q=0.5', 'webp'],
    ['AVIF refused with q=0', 'image/avif;q=0, image/webp', 'webp'],
    ['both refused', 'image/avif;q=0, image/webp;q=0, */*', undefined],
    ['curl', '*/*', undefined],
    ['image wildcard only', 'image/*', undefined],
    ['old browser', 'image/png,image/*;q=0.8,*/*;q=0.5', undefined],
    ['upper case', 'IMAGE/AVIF', 'avif'],
    ['no header', undefined, undefined],
    ['empty header', '', undefined],
  ])('%s: %s -> %s', (_client, accept, format) => {
    expect(negotiateImageFormat(accept)).toBe(format);
  });
});

describe('format auto in a spec', () => {
  const options = resolveImageResizeOptions({});
  const resolve = (accept: string | undefined, fallback?: 'png' | 'jpeg' | 'webp' | 'avif') =>
    resolveResizeSpec({ width: 10, height: 10, format: 'auto', accept, fallback }, options);

  it('resolves to the negotiated format and marks it negotiated', () => {
    expect(resolve('image/avif')).toMatchObject({ format: 'avif', alphaFallback: false, negotiated: true });
    expect(resolve('image/webp')).toMatchObject({ format: 'webp', alphaFallback: false, negotiated: true });
  });

  it('falls back to the route fallback, or to PNG/JPEG by transparency', () => {
    expect(resolve('*/*', 'jpeg')).toMatchObject({ format: 'jpeg', alphaFallback: false });
    expect(resolve('*/*')).toMatchObject({ alphaFallback: true, negotiated: true });
  });

  it('is not negotiated for a fixed format', () => {
    expect(
      resolveResizeSpec({ width: 10, height: 10, format: 'webp', accept: 'image/avif' }, options),
    ).toMatchObject({
      format: 'webp',
      negotiated: false,
    });
  });

  it('gives a bounded set of cache variants whatever the Accept header says', () => {
    const formats = new Set(
      [
        'image/avif',
        'image/webp',
        '*/*',
        'image/avif;q=0.1, image/webp;q=0.9',
        'x'.repeat(500),
        'image/jxl',
      ].map((accept) => {
        const spec = resolve(accept);
        return spec.alphaFallback ? 'fallback' : spec.format;
      }),
    );
    expect([...formats].sort()).toEqual(['avif', 'fallback', 'webp']);
  });
});
