import { InvalidResizeSpecError } from '../errors/image-resize.errors';
import { assertCacheKey, groupKey, hashedCacheKey, variantKey } from './variant.keys';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { ResizeSpec, ResolvedResizeSpec } from './resize-spec.interface';
import { resolveResizeSpec } from './resize-spec.resolver';

const defaults = resolveImageResizeOptions({ ttl: 60 });
const { encoders } = defaults;
const spec = (extra: Partial<ResizeSpec> = {}): ResolvedResizeSpec =>
  resolveResizeSpec({ width: 256, height: 256, ...extra }, defaults);

describe('cache keys', () => {
  it('follow <prefix><cacheKey>_<w>_<h>_<format> and name every field that changes the bytes', () => {
    expect(variantKey('image_resize_', 'logo_small_acme', spec(), encoders)).toEqual({
      key: 'image_resize_logo_small_acme_256_256_png',
      group: 'image_resize_logo_small_acme#variants',
      lock: 'image_resize_logo_small_acme_256_256_png#lock',
    });
    expect(variantKey('p_', 'k', spec({ fit: 'cover', quality: 70, format: 'jpeg' }), encoders).key).toBe(
      'p_k_256_256_jpeg_cover_q70',
    );
    expect(variantKey('p_', 'k', spec({ ttl: 5, redraw: true }), encoders).key).toBe('p_k_256_256_png');
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
        encoders,
      ).key,
    ).toBe('p_k_256_256_png_cover_p-right-top_bgfff_noup_pal');
    expect(variantKey('p_', 'k', spec({ withoutEnlargement: false }), encoders).key).toBe(
      'p_k_256_256_png_up',
    );
    expect(variantKey('p_', 'k', spec({ dpr: 2 }), encoders).key).toBe('p_k_512_512_png');
    expect(variantKey('p_', 'k', spec({ format: 'auto', accept: 'image/webp' }), encoders).key).toBe(
      'p_k_256_256_webp',
    );
    expect(variantKey('p_', 'k', spec({ format: 'auto', accept: 'text/html' }), encoders).key).toBe(
      'p_k_256_256_fallback',
    );
    expect(variantKey('p_', 'k', spec({ format: 'auto', fallback: 'png' }), encoders).key).toBe(
      'p_k_256_256_png',
    );
  });

  it('name encoder settings only when they differ from the built-in defaults', () => {
    expect(variantKey('p_', 'k', spec({ format: 'jpeg', quality: 80 }), encoders).key).toBe(
      'p_k_256_256_jpeg',
    );
    expect(variantKey('p_', 'k', spec({ format: 'jpeg' }), encoders).key).toBe('p_k_256_256_jpeg');
    const tuned = resolveImageResizeOptions({
      encoders: { jpeg: { quality: 70 }, avif: { effort: 5 }, png: { palette: true } },
    });
    const withTuned = (extra: Partial<ResizeSpec>) =>
      resolveResizeSpec({ width: 10, height: 10, ...extra }, tuned);
    expect(variantKey('p_', 'k', withTuned({ format: 'jpeg' }), tuned.encoders).key).toBe(
      'p_k_10_10_jpeg_q70',
    );
    expect(variantKey('p_', 'k', withTuned({ format: 'jpeg', quality: 80 }), tuned.encoders).key).toBe(
      'p_k_10_10_jpeg',
    );
    expect(variantKey('p_', 'k', withTuned({ format: 'avif' }), tuned.encoders).key).toBe(
      'p_k_10_10_avif_e5',
    );
    expect(variantKey('p_', 'k', withTuned({ format: 'png' }), tuned.encoders).key).toBe('p_k_10_10_png_pal');
    expect(variantKey('p_', 'k', withTuned({ format: 'png', palette: false }), tuned.encoders).key).toBe(
      'p_k_10_10_png',
    );
    expect(groupKey('p_', 'k')).toBe('p_k#variants');
  });

  it('leave out a quality that PNG output does not use, so that ?q cannot split one image into many', () => {
    expect(spec({ format: 'png', quality: 50 }).quality).toBeUndefined();
    expect(variantKey('p_', 'k', spec({ format: 'png', quality: 50 }), encoders).key).toBe('p_k_256_256_png');
    // A negotiated fallback may still turn out JPEG, which uses it.
    expect(spec({ format: 'auto', quality: 50 }).quality).toBe(50);
  });

  it('name the settings of a negotiated fallback, whichever of PNG and JPEG it turns out to be', () => {
    const fallback = (options = defaults, extra: Partial<ResizeSpec> = {}) =>
      variantKey(
        'p_',
        'k',
        resolveResizeSpec({ width: 10, height: 10, format: 'auto', ...extra }, options),
        options.encoders,
      ).key;
    expect(fallback()).toBe('p_k_10_10_fallback');
    expect(fallback(defaults, { quality: 80 })).toBe('p_k_10_10_fallback');
    expect(fallback(defaults, { quality: 30 })).toBe('p_k_10_10_fallback_q30');
    const jpeg30 = resolveImageResizeOptions({ encoders: { jpeg: { quality: 30 } } });
    expect(fallback(jpeg30)).toBe('p_k_10_10_fallback_q30');
    expect(fallback(jpeg30, { quality: 80 })).toBe('p_k_10_10_fallback');
    const palette = resolveImageResizeOptions({ encoders: { png: { palette: true } } });
    expect(fallback(palette)).toBe('p_k_10_10_fallback_pal');
    // Settings of formats the fallback never takes stay out of its key.
    const others = resolveImageResizeOptions({ encoders: { webp: { quality: 30 }, avif: { effort: 5 } } });
    expect(fallback(others)).toBe('p_k_10_10_fallback');
  });

  it('put every key of one cacheKey in one Redis Cluster hash slot with {cacheKey} tags', () => {
    expect(variantKey('p_', 'logo_acme', spec(), encoders, true)).toEqual({
      key: 'p_{logo_acme}_256_256_png',
      group: 'p_{logo_acme}#variants',
      lock: 'p_{logo_acme}_256_256_png#lock',
    });
    const derived = hashedCacheKey('url', 'https://example.com/x');
    expect(variantKey('p_', derived, spec(), encoders, true)).toEqual({
      key: `p_{${derived}}_256_256_png`,
      group: `p_{${derived}}#variants`,
      lock: `p_{${derived}}_256_256_png#lock`,
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
    expect(a).toMatch(/^url~[0-9a-f]{40}$/);
    expect(hashedCacheKey('url', 'https://example.com/x')).toBe(a);
    expect(hashedCacheKey('url', 'https://example.com/x?y')).not.toBe(a);
    expect(hashedCacheKey('file', '/a', '1')).not.toBe(hashedCacheKey('file', '/a1'));
  });

  it('derive keys that no cacheKey can spell, so the two never share an entry', () => {
    const derived = [
      hashedCacheKey('url', 'https://example.com/x'),
      hashedCacheKey('buf', Buffer.from('bytes')),
      hashedCacheKey('file', '/a', '1', '2'),
    ];
    for (const key of derived) {
      expect(key).toMatch(/^(url|buf|file)~[0-9a-f]{40}$/);
      expect(() => assertCacheKey(key)).toThrow(InvalidResizeSpecError);
      // Nor the same key spelled with the separator of a cacheKey.
      const spelled = key.replace('~', '_');
      expect(assertCacheKey(spelled)).toBe(spelled);
      expect(variantKey('p_', spelled, spec(), encoders).key).not.toBe(
        variantKey('p_', key, spec(), encoders).key,
      );
    }
  });
});
