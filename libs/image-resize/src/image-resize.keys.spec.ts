import { InvalidResizeSpecError } from './errors/image-resize.errors';
import { assertCacheKey, groupKey, hashedCacheKey, variantKey } from './image-resize.keys';
import { resolveImageResizeOptions } from './image-resize.options';
import type { ResizeSpec, ResolvedResizeSpec } from './interfaces/resize-spec.interface';
import { resolveResizeSpec } from './resize-spec.resolver';

const spec = (extra: Partial<ResizeSpec> = {}): ResolvedResizeSpec =>
  resolveResizeSpec({ width: 256, height: 256, ...extra }, resolveImageResizeOptions({ ttl: 60 }));

describe('cache keys', () => {
  it('follow <prefix><cacheKey>_<w>_<h>_<format> and name every field that changes the bytes', () => {
    expect(variantKey('image_resize_', 'logo_small_acme', spec())).toEqual({
      key: 'image_resize_logo_small_acme_256_256_png',
      group: 'image_resize_logo_small_acme#variants',
      lock: 'image_resize_logo_small_acme_256_256_png#lock',
    });
    expect(variantKey('p_', 'k', spec({ fit: 'cover', quality: 70, format: 'jpeg' })).key).toBe(
      'p_k_256_256_jpeg_cover_q70',
    );
    expect(variantKey('p_', 'k', spec({ ttl: 5, redraw: true })).key).toBe('p_k_256_256_png');
    expect(
      variantKey(
        'p_',
        'k',
        spec({
          fit: 'cover',
          position: 'right top',
          background: '#FFF',
          withoutEnlargement: true,
          palette: true,
        }),
      ).key,
    ).toBe('p_k_256_256_png_cover_p-right-top_bgfff_noup_pal');
    expect(variantKey('p_', 'k', spec({ withoutEnlargement: false })).key).toBe('p_k_256_256_png_up');
    expect(variantKey('p_', 'k', spec({ dpr: 2 })).key).toBe('p_k_512_512_png');
    expect(variantKey('p_', 'k', spec({ format: 'auto', accept: 'image/webp' })).key).toBe(
      'p_k_256_256_webp',
    );
    expect(variantKey('p_', 'k', spec({ format: 'auto', accept: 'text/html' })).key).toBe(
      'p_k_256_256_fallback',
    );
    expect(variantKey('p_', 'k', spec({ format: 'auto', fallback: 'png' })).key).toBe('p_k_256_256_png');
  });

  it('name encoder settings only when they differ from the built-in defaults', () => {
    expect(variantKey('p_', 'k', spec({ format: 'jpeg', quality: 80 })).key).toBe('p_k_256_256_jpeg');
    expect(variantKey('p_', 'k', spec({ format: 'jpeg' })).key).toBe('p_k_256_256_jpeg');
    const tuned = resolveImageResizeOptions({
      encoders: { jpeg: { quality: 70 }, avif: { effort: 5 }, png: { palette: true } },
    });
    const withTuned = (extra: Partial<ResizeSpec>) =>
      resolveResizeSpec({ width: 10, height: 10, ...extra }, tuned);
    expect(variantKey('p_', 'k', withTuned({ format: 'jpeg' })).key).toBe('p_k_10_10_jpeg_q70');
    expect(variantKey('p_', 'k', withTuned({ format: 'jpeg', quality: 80 })).key).toBe('p_k_10_10_jpeg');
    expect(variantKey('p_', 'k', withTuned({ format: 'avif' })).key).toBe('p_k_10_10_avif_e5');
    expect(variantKey('p_', 'k', withTuned({ format: 'png' })).key).toBe('p_k_10_10_png_pal');
    expect(variantKey('p_', 'k', withTuned({ format: 'png', palette: false })).key).toBe('p_k_10_10_png');
    expect(groupKey('p_', 'k')).toBe('p_k#variants');
  });

  it('put every key of one cacheKey in one Redis Cluster hash slot with {cacheKey} tags', () => {
    expect(variantKey('p_', 'logo_acme', spec(), true)).toEqual({
      key: 'p_{logo_acme}_256_256_png',
      group: 'p_{logo_acme}#variants',
      lock: 'p_{logo_acme}_256_256_png#lock',
    });
  });

  it('accept application names and refuse what could collide or inject', () => {
    expect(assertCacheKey('logo_small_acme')).toBe('logo_small_acme');
    expect(assertCacheKey('tenant:42/logo.png')).toBe('tenant:42/logo.png');
    for (const bad of ['', 'has space', 'a#variants', 'line\nbreak', 'x'.repeat(201)]) {
      expect(() => assertCacheKey(bad)).toThrow(InvalidResizeSpecError);
    }
  });

  it('hash a source deterministically, keeping /x and /x?y apart', () => {
    const a = hashedCacheKey('url', 'https://example.com/x');
    expect(a).toMatch(/^url_[0-9a-f]{40}$/);
    expect(hashedCacheKey('url', 'https://example.com/x')).toBe(a);
    expect(hashedCacheKey('url', 'https://example.com/x?y')).not.toBe(a);
    expect(hashedCacheKey('file', '/a', '1')).not.toBe(hashedCacheKey('file', '/a1'));
  });
});
