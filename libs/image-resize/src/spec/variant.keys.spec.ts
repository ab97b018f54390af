import { InvalidResizeSpecError } from '../errors/image-resize.errors';
import { DEFAULT_ENCODERS } from '../image-resize.constants';
import { assertCacheKey, groupKey, hashedCacheKey, variantKey } from './variant.keys';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { EncoderOptions, ImageResizeModuleOptions } from '../options/image-resize-options.interface';
import { imageJob } from '../processors/sharp-image.processor';
import type { ImageJob } from '../processors/sharp-image.work';
import type { OutputFormat, ResizeSpec, ResolvedResizeSpec } from './resize-spec.interface';
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

/** The key of a 10x10 variant of `k` under module `options` for a route that says `route`. */
function keyUnder(options: ImageResizeModuleOptions, route: Partial<ResizeSpec>): string {
  const resolved = resolveImageResizeOptions(options);
  const spec = resolveResizeSpec({ width: 10, height: 10, ...route }, resolved);
  return variantKey('p_', 'k', spec, resolved.encoders).key;
}

describe('the key covers every setting that changes the output', () => {
  interface Row {
    setting: string;
    /** The route the setting applies to, and its key with every setting at its built-in default. */
    route: Partial<ResizeSpec>;
    base: string;
    /** The setting changed for the whole module, and set to its built-in default explicitly. */
    module?: { changed: EncoderOptions; key: string; builtIn: EncoderOptions };
    /** The setting changed by the route (or per call), and set to its built-in default explicitly. */
    perRoute?: { changed: Partial<ResizeSpec>; key: string; builtIn?: Partial<ResizeSpec> };
  }
  const rows: Row[] = [
    {
      setting: 'JPEG quality',
      route: { format: 'jpeg' },
      base: 'p_k_10_10_jpeg',
      module: {
        changed: { jpeg: { quality: 60 } },
        key: 'p_k_10_10_jpeg_q60',
        builtIn: { jpeg: { quality: 80 } },
      },
      perRoute: { changed: { quality: 60 }, key: 'p_k_10_10_jpeg_q60', builtIn: { quality: 80 } },
    },
    {
      setting: 'JPEG quality of a named fallback',
      route: { format: 'auto', fallback: 'jpeg' },
      base: 'p_k_10_10_jpeg',
      module: {
        changed: { jpeg: { quality: 60 } },
        key: 'p_k_10_10_jpeg_q60',
        builtIn: { jpeg: { quality: 80 } },
      },
      perRoute: { changed: { quality: 60 }, key: 'p_k_10_10_jpeg_q60', builtIn: { quality: 80 } },
    },
    {
      setting: 'JPEG quality of the alpha fallback (opaque images)',
      route: { format: 'auto' },
      base: 'p_k_10_10_fallback',
      module: {
        changed: { jpeg: { quality: 60 } },
        key: 'p_k_10_10_fallback_q60',
        builtIn: { jpeg: { quality: 80 } },
      },
      perRoute: { changed: { quality: 60 }, key: 'p_k_10_10_fallback_q60', builtIn: { quality: 80 } },
    },
    {
      setting: 'WebP quality',
      route: { format: 'webp' },
      base: 'p_k_10_10_webp',
      module: {
        changed: { webp: { quality: 60 } },
        key: 'p_k_10_10_webp_q60',
        builtIn: { webp: { quality: 80 } },
      },
      perRoute: { changed: { quality: 60 }, key: 'p_k_10_10_webp_q60', builtIn: { quality: 80 } },
    },
    {
      setting: 'WebP quality, negotiated',
      route: { format: 'auto', accept: 'image/webp' },
      base: 'p_k_10_10_webp',
      module: {
        changed: { webp: { quality: 60 } },
        key: 'p_k_10_10_webp_q60',
        builtIn: { webp: { quality: 80 } },
      },
      perRoute: { changed: { quality: 60 }, key: 'p_k_10_10_webp_q60', builtIn: { quality: 80 } },
    },
    {
      setting: 'AVIF quality',
      route: { format: 'avif' },
      base: 'p_k_10_10_avif',
      module: {
        changed: { avif: { quality: 30 } },
        key: 'p_k_10_10_avif_q30',
        builtIn: { avif: { quality: 50 } },
      },
      perRoute: { changed: { quality: 30 }, key: 'p_k_10_10_avif_q30', builtIn: { quality: 50 } },
    },
    {
      setting: 'AVIF quality, negotiated',
      route: { format: 'auto', accept: 'image/avif' },
      base: 'p_k_10_10_avif',
      module: {
        changed: { avif: { quality: 30 } },
        key: 'p_k_10_10_avif_q30',
        builtIn: { avif: { quality: 50 } },
      },
      perRoute: { changed: { quality: 30 }, key: 'p_k_10_10_avif_q30', builtIn: { quality: 50 } },
    },
    {
      setting: 'AVIF effort',
      route: { format: 'avif' },
      base: 'p_k_10_10_avif',
      module: {
        changed: { avif: { effort: 6 } },
        key: 'p_k_10_10_avif_e6',
        builtIn: { avif: { effort: 3 } },
      },
    },
    {
      setting: 'AVIF effort, negotiated',
      route: { format: 'auto', accept: 'image/avif' },
      base: 'p_k_10_10_avif',
      module: {
        changed: { avif: { effort: 0 } },
        key: 'p_k_10_10_avif_e0',
        builtIn: { avif: { effort: 3 } },
      },
    },
    {
      setting: 'PNG palette',
      route: { format: 'png' },
      base: 'p_k_10_10_png',
      module: {
        changed: { png: { palette: true } },
        key: 'p_k_10_10_png_pal',
        builtIn: { png: { palette: false } },
      },
      perRoute: { changed: { palette: true }, key: 'p_k_10_10_png_pal', builtIn: { palette: false } },
    },
    {
      setting: 'PNG palette of a named fallback',
      route: { format: 'auto', fallback: 'png' },
      base: 'p_k_10_10_png',
      module: {
        changed: { png: { palette: true } },
        key: 'p_k_10_10_png_pal',
        builtIn: { png: { palette: false } },
      },
      perRoute: { changed: { palette: true }, key: 'p_k_10_10_png_pal', builtIn: { palette: false } },
    },
    {
      setting: 'PNG palette of the alpha fallback (transparent images)',
      route: { format: 'auto' },
      base: 'p_k_10_10_fallback',
      module: {
        changed: { png: { palette: true } },
        key: 'p_k_10_10_fallback_pal',
        builtIn: { png: { palette: false } },
      },
      perRoute: { changed: { palette: true }, key: 'p_k_10_10_fallback_pal', builtIn: { palette: false } },
    },
    {
      setting: 'animated WebP',
      route: { format: 'webp' },
      base: 'p_k_10_10_webp',
      perRoute: { changed: { animated: true }, key: 'p_k_10_10_webp_anim', builtIn: { animated: false } },
    },
    {
      setting: 'format',
      route: {},
      base: 'p_k_10_10_png',
      perRoute: { changed: { format: 'webp' }, key: 'p_k_10_10_webp', builtIn: { format: 'png' } },
    },
    {
      setting: 'size',
      route: {},
      base: 'p_k_10_10_png',
      perRoute: { changed: { dpr: 2 }, key: 'p_k_20_20_png', builtIn: { dpr: 1 } },
    },
    {
      setting: 'fit',
      route: {},
      base: 'p_k_10_10_png',
      perRoute: { changed: { fit: 'cover' }, key: 'p_k_10_10_png_cover', builtIn: { fit: 'inside' } },
    },
    {
      setting: 'position',
      route: { fit: 'cover' },
      base: 'p_k_10_10_png_cover',
      perRoute: {
        changed: { position: 'left bottom' },
        key: 'p_k_10_10_png_cover_p-left-bottom',
        builtIn: { position: 'centre' },
      },
    },
    {
      setting: 'background',
      route: { fit: 'contain', format: 'jpeg' },
      base: 'p_k_10_10_jpeg_contain',
      perRoute: { changed: { background: '#FF000080' }, key: 'p_k_10_10_jpeg_contain_bgff000080' },
    },
    {
      setting: 'withoutEnlargement',
      route: {},
      base: 'p_k_10_10_png',
      perRoute: {
        changed: { withoutEnlargement: false },
        key: 'p_k_10_10_png_up',
        builtIn: { withoutEnlargement: true },
      },
    },
  ];

  it.each(rows)('$setting: in the key when changed, out of it at its built-in default', (row) => {
    const { route, base, module, perRoute } = row;
    expect(keyUnder({}, route)).toBe(base);
    if (module) {
      expect(keyUnder({ encoders: module.changed }, route)).toBe(module.key);
      expect(keyUnder({ encoders: module.builtIn }, route)).toBe(base);
    }
    if (perRoute) {
      expect(keyUnder({}, { ...route, ...perRoute.changed })).toBe(perRoute.key);
      if (perRoute.builtIn) expect(keyUnder({}, { ...route, ...perRoute.builtIn })).toBe(base);
    }
    // A route's own setting wins over the module's: at the built-in default, it is the default entry.
    if (module && perRoute?.builtIn) {
      expect(keyUnder({ encoders: module.changed }, { ...route, ...perRoute.builtIn })).toBe(base);
    }
  });

  it('names every module encoder setting there is, so that one added later cannot be left out', () => {
    // Driven by the defaults table: a setting added to `encoders` shows up in the list below, and the
    // loop then checks that changing it changes the key.
    const changed = (value: number | boolean): number | boolean =>
      typeof value === 'boolean' ? !value : value > 1 ? value - 1 : value + 1;
    const settings = Object.entries(DEFAULT_ENCODERS).flatMap(([format, entries]) =>
      Object.entries(entries as Record<string, number | boolean>).map(([name, value]) => ({
        format: format as OutputFormat,
        name,
        value,
      })),
    );
    expect(settings.map(({ format, name }) => `${format}.${name}`)).toEqual([
      'jpeg.quality',
      'webp.quality',
      'avif.quality',
      'avif.effort',
      'png.palette',
    ]);
    for (const { format, name, value } of settings) {
      const encoderOptions = { [format]: { [name]: changed(value) } } as EncoderOptions;
      const routes: Array<Partial<ResizeSpec>> = [{ format }, { format: 'auto', fallback: format }];
      // PNG's and JPEG's settings are also those of the alpha fallback.
      if (format === 'png' || format === 'jpeg') routes.push({ format: 'auto' });
      for (const route of routes) {
        const what = `encoders.${format}.${name} for ${JSON.stringify(route)}`;
        expect([what, keyUnder({ encoders: encoderOptions }, route)]).not.toEqual([
          what,
          keyUnder({}, route),
        ]);
      }
    }
  });

  it('names the settings the child encodes with even where the spec leaves them to the module', () => {
    // The child takes a quality the spec does not carry from the module's encoders: so must the key.
    const tuned = resolveImageResizeOptions({
      encoders: { jpeg: { quality: 30 }, webp: { quality: 31 }, avif: { quality: 32 } },
    });
    const bare = (format: OutputFormat): ResolvedResizeSpec => ({
      ...resolveResizeSpec({ width: 10, height: 10, format }, tuned),
      quality: undefined,
    });
    for (const format of ['jpeg', 'webp', 'avif'] as const) {
      const job = imageJob(Buffer.alloc(0), bare(format), tuned);
      const key = variantKey('p_', 'k', bare(format), tuned.encoders).key;
      expect([key, job.quality[format]]).toEqual([
        `p_k_10_10_${format}_q${tuned.encoders[format].quality}`,
        tuned.encoders[format].quality,
      ]);
    }
    // Nor does a setting the child never applies to the output's format split the entry.
    const jpeg = { ...resolveResizeSpec({ width: 10, height: 10, format: 'jpeg' }, defaults), palette: true };
    expect(variantKey('p_', 'k', jpeg, encoders).key).toBe('p_k_10_10_jpeg');
  });

  /**
   * What the child reads from a job to make the image, for an image with and without transparency
   * (the alpha fallback decides between PNG and JPEG there): `makeImage` in sharp-image.work.ts.
   */
  function whatTheChildUses(job: ImageJob): string {
    const made = (hasAlpha: boolean) => {
      const format: OutputFormat = job.alphaFallback ? (hasAlpha ? 'png' : 'jpeg') : job.format;
      const geometry = [job.width, job.height, job.fit, job.position, job.withoutEnlargement, job.background];
      const encoder = {
        png: [job.palette],
        jpeg: [job.quality.jpeg],
        webp: [job.quality.webp, job.animated],
        avif: [job.quality.avif, job.effort],
      }[format];
      return [format, ...geometry, ...encoder];
    };
    return JSON.stringify([made(true), made(false)]);
  }

  it('gives two variants one key only when the child makes them alike, whatever the settings', () => {
    const modules: EncoderOptions[] = [
      {},
      {
        jpeg: { quality: 80 },
        webp: { quality: 80 },
        avif: { quality: 50, effort: 3 },
        png: { palette: false },
      },
      { jpeg: { quality: 30 } },
      { webp: { quality: 30 } },
      { avif: { quality: 30 } },
      { avif: { effort: 6 } },
      { png: { palette: true } },
      {
        jpeg: { quality: 30 },
        webp: { quality: 40 },
        avif: { quality: 60, effort: 0 },
        png: { palette: true },
      },
    ];
    const formats: Array<Partial<ResizeSpec>> = [
      { format: 'png' },
      { format: 'jpeg' },
      { format: 'webp' },
      { format: 'avif' },
      { format: 'auto' },
      { format: 'auto', accept: 'image/webp' },
      { format: 'auto', accept: 'image/avif' },
      { format: 'auto', fallback: 'jpeg' },
      { format: 'auto', fallback: 'png' },
    ];
    const routes: Array<Partial<ResizeSpec>> = [
      {},
      { quality: 30 },
      { quality: 50 },
      { quality: 80 },
      { palette: true },
      { palette: false },
      { animated: true },
      { fit: 'contain', background: '#ff0000' },
      { fit: 'cover', position: 'entropy', withoutEnlargement: true },
    ];
    const seen = new Map<string, string>();
    let shared = 0;
    for (const encoderOptions of modules) {
      const options = resolveImageResizeOptions({ encoders: encoderOptions });
      for (const format of formats) {
        for (const route of routes) {
          const spec = resolveResizeSpec({ width: 10, height: 10, ...format, ...route }, options);
          const key = variantKey('p_', 'k', spec, options.encoders).key;
          const uses = whatTheChildUses(imageJob(Buffer.alloc(0), spec, options));
          const before = seen.get(key);
          if (before === undefined) seen.set(key, uses);
          else {
            shared++;
            expect({ key, uses }).toEqual({ key, uses: before });
          }
        }
      }
    }
    // Settings at their built-in defaults do share entries (the matrix has many such pairs).
    expect(shared).toBeGreaterThan(100);
  });
});
