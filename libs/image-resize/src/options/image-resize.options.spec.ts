import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { DEFAULT_OPTIONS } from './image-resize.defaults';
import { resolveImageResizeOptions } from './image-resize.options';

describe('resolveImageResizeOptions', () => {
  it('applies the documented defaults', () => {
    expect(resolveImageResizeOptions(undefined)).toEqual({
      redis: undefined,
      requireCache: false,
      useCacheManager: false,
      hotCache: false,
      memory: { maxBytes: 64 * 1024 * 1024 },
      ttl: 2_592_000,
      revalidateAfter: 86_400,
      originMaxAge: 'ignore',
      keyPrefix: 'image_resize_',
      allowRedraw: false,
      maxSourceBytes: 20 * 1024 * 1024,
      maxSourceBytesInFlight: 64 * 1024 * 1024,
      fetchTimeoutMs: 10_000,
      sources: { allowPrivateNetworks: false, maxRedirects: 3 },
      maxInputPixels: 40_000_000,
      maxDecodedBytes: 160_000_000,
      maxJpegScans: 100,
      maxAnimationFrames: 1000,
      processingTimeoutMs: 10_000,
      allowSvg: false,
      cacheControl: {},
      concurrency: availableParallelism(),
      maxQueue: 100,
      encoders: {
        jpeg: { quality: 80 },
        webp: { quality: 80 },
        avif: { quality: 50, effort: 3 },
        png: { palette: false },
      },
      maxOutputWidth: 4096,
      maxOutputHeight: 4096,
      shutdownDrainMs: 10_000,
    });
  });

  it('keeps what is given', () => {
    const allowRedraw = () => true;
    const resolved = resolveImageResizeOptions({
      redis: { cluster: [{ host: '127.0.0.1', port: 7000 }] },
      ttl: 60,
      keyPrefix: 'logos:',
      allowRedraw,
      sources: {
        allowedHosts: ['cdn.example.com', '*.example.org'],
        allowPrivateNetworks: ['127.0.0.1'],
        maxRedirects: 0,
      },
    });
    expect(resolved).toMatchObject({
      ttl: 60,
      keyPrefix: 'logos:',
      allowRedraw,
      sources: {
        allowedHosts: ['cdn.example.com', '*.example.org'],
        allowPrivateNetworks: ['127.0.0.1'],
        maxRedirects: 0,
      },
    });
    expect(resolveImageResizeOptions({ redis: 'rediss://cache.internal:6380/2' }).redis).toBe(
      'rediss://cache.internal:6380/2',
    );
  });

  it('keeps a private cacheControl, alone or with immutable: false, and the public extras without it', () => {
    for (const cacheControl of [
      { private: true },
      { private: true, immutable: false },
      { private: false, sMaxAge: 60, immutable: true },
      { sMaxAge: 0 },
    ]) {
      expect(resolveImageResizeOptions({ cacheControl }).cacheControl).toEqual(cacheControl);
    }
  });

  it('takes a shutdownDrainMs of 0 (no wait) or more', () => {
    expect(resolveImageResizeOptions({ shutdownDrainMs: 0 }).shutdownDrainMs).toBe(0);
    expect(resolveImageResizeOptions({ shutdownDrainMs: 25_000 }).shutdownDrainMs).toBe(25_000);
  });

  it('puts a 16 MiB hot tier in front of Redis unless told otherwise', () => {
    const redis = 'redis://127.0.0.1:6379';
    expect(resolveImageResizeOptions({ redis }).hotCache).toEqual({
      maxBytes: 16 * 1024 * 1024,
      maxAgeMs: 60_000,
      outageMaxAgeMs: 30_000,
    });
    expect(
      resolveImageResizeOptions({ redis, hotCache: { maxBytes: 4096, maxAgeMs: 500 } }).hotCache,
    ).toEqual({ maxBytes: 4096, maxAgeMs: 500, outageMaxAgeMs: 30_000 });
    // 0: no outage tier.
    expect(resolveImageResizeOptions({ redis, hotCache: { outageMaxAgeMs: 0 } }).hotCache).toEqual({
      maxBytes: 16 * 1024 * 1024,
      maxAgeMs: 60_000,
      outageMaxAgeMs: 0,
    });
    expect(resolveImageResizeOptions({ redis, hotCache: false }).hotCache).toBe(false);
    expect(resolveImageResizeOptions({ hotCache: false }).hotCache).toBe(false);
  });

  /** What `options` are refused with; fails the test when they are accepted. */
  const refusal = (options: unknown): Error => {
    try {
      resolveImageResizeOptions(options as never);
    } catch (error) {
      return error as Error;
    }
    throw new Error(`expected ${JSON.stringify(options)} to be refused`);
  };

  const KNOWN =
    '{ redis?, requireCache?, useCacheManager?, hotCache?, memory?, ttl?, revalidateAfter?, originMaxAge?, ' +
    'keyPrefix?, allowRedraw?, maxSourceBytes?, ' +
    'maxSourceBytesInFlight?, fetchTimeoutMs?, sources?, maxInputPixels?, maxDecodedBytes?, maxJpegScans?, ' +
    'maxAnimationFrames?, processingTimeoutMs?, concurrency?, maxQueue?, allowSvg?, signing?, encoders?, ' +
    'cacheControl?, maxOutputWidth?, maxOutputHeight?, shutdownDrainMs? }';
  const SOURCES = '{ allowedHosts?, allowPrivateNetworks?, maxRedirects?, fileRoot? }';
  const HOST_NAMES = 'host names such as "cdn.example.com" or "*.example.com"';

  // Every refusal names the option, says what it accepts and what it got (so that a string from the
  // environment is spotted at once): `option "<name>" must be <expected> (got <value>)`.
  it.each([
    [{ ttl: -1 }, 'option "ttl" must be an integer >= 1 (got the number -1)'],
    [{ ttl: -5 }, 'option "ttl" must be an integer >= 1 (got the number -5)'],
    [{ ttl: 1.5 }, 'option "ttl" must be an integer >= 1 (got the number 1.5)'],
    [{ ttl: '60' }, 'option "ttl" must be an integer >= 1 (got a string "60")'],
    [{ ttl: '3600' }, 'option "ttl" must be an integer >= 1 (got a string "3600")'],
    // What Number() makes of a string from the environment that is not a number: said as it is.
    [{ ttl: Number('abc') }, 'option "ttl" must be an integer >= 1 (got NaN)'],
    [{ ttl: Number('1e999') }, 'option "ttl" must be an integer >= 1 (got Infinity)'],
    [{ maxQueue: Number(undefined) }, 'option "maxQueue" must be an integer >= 0 (got NaN)'],
    [{ requireCache: 'true' }, 'option "requireCache" must be a boolean (got a string "true")'],
    [{ ttl: null }, 'option "ttl" must be an integer >= 1 (got null)'],
    [{ maxSourceBytes: 0 }, 'option "maxSourceBytes" must be an integer >= 1 (got the number 0)'],
    [{ processingTimeoutMs: 0 }, 'option "processingTimeoutMs" must be an integer >= 1 (got the number 0)'],
    [{ maxAnimationFrames: -3 }, 'option "maxAnimationFrames" must be an integer >= 1 (got the number -3)'],
    [{ maxQueue: '10' }, 'option "maxQueue" must be an integer >= 0 (got a string "10")'],
    [{ shutdownDrainMs: -1 }, 'option "shutdownDrainMs" must be an integer >= 0 (got the number -1)'],
    [
      { sources: { maxRedirects: -1 } },
      'option "sources.maxRedirects" must be an integer >= 0 (got the number -1)',
    ],
    [{ sources: { maxRedirects: true } }, 'option "sources.maxRedirects" must be an integer >= 0 (got true)'],
    [
      { sources: { allowedHosts: 'cdn.example.com' } },
      `option "sources.allowedHosts" must be an array of ${HOST_NAMES} (got a string "cdn.example.com")`,
    ],
    [
      { sources: { allowPrivateNetworks: 'yes' } },
      `option "sources.allowPrivateNetworks" must be an array of ${HOST_NAMES} (got a string "yes")`,
    ],
    [
      { sources: { allowPrivateNetworks: ['a b'] } },
      'option "sources.allowPrivateNetworks[0]" must be a host name such as "cdn.example.com" or "*.example.com" (got a string "a b")',
    ],
    [
      { sources: { allowPrivateNetworks: ['::1', 1] } },
      'option "sources.allowPrivateNetworks[1]" must be a host name such as "cdn.example.com" or "*.example.com" (got the number 1)',
    ],
    [
      { sources: { allowHosts: [] } },
      `option "sources" must be an object ${SOURCES} (got the unknown key "allowHosts")`,
    ],
    [{ sources: [] }, `option "sources" must be an object ${SOURCES} (got an empty array)`],
    [{ sources: ['cdn.example.com'] }, `option "sources" must be an object ${SOURCES} (got an array)`],
    [{ allowSvg: 'no' }, 'option "allowSvg" must be a boolean (got a string "no")'],
    [{ useCacheManager: 'yes' }, 'option "useCacheManager" must be a boolean (got a string "yes")'],
    [{ useCacheManager: 1 }, 'option "useCacheManager" must be a boolean (got the number 1)'],
    [
      { keyPrefix: 'has space' },
      'option "keyPrefix" must be at most 64 characters of letters, digits, "_", ".", ":" or "-" (got a string "has space")',
    ],
    [
      { keyPrefix: 42 },
      'option "keyPrefix" must be at most 64 characters of letters, digits, "_", ".", ":" or "-" (got the number 42)',
    ],
    [
      { allowRedraw: 'yes' },
      'option "allowRedraw" must be a boolean or a function (request) => boolean (got a string "yes")',
    ],
    [
      { encoders: { jpeg: { quality: 0 } } },
      'option "encoders.jpeg.quality" must be an integer from 1 to 100 (got the number 0)',
    ],
    [
      { encoders: { jpeg: { quality: '80' } } },
      'option "encoders.jpeg.quality" must be an integer from 1 to 100 (got a string "80")',
    ],
    [
      { encoders: { avif: { effort: 10 } } },
      'option "encoders.avif.effort" must be an integer from 0 to 9 (got the number 10)',
    ],
    [
      { encoders: { avif: { effort: 'max' } } },
      'option "encoders.avif.effort" must be an integer from 0 to 9 (got a string "max")',
    ],
    [
      { encoders: { gif: {} } },
      'option "encoders" must be an object { jpeg?, webp?, avif?, png? } (got the unknown key "gif")',
    ],
    [
      { encoders: 'fast' },
      'option "encoders" must be an object { jpeg?, webp?, avif?, png? } (got a string "fast")',
    ],
    [{ encoders: null }, 'option "encoders" must be an object { jpeg?, webp?, avif?, png? } (got null)'],
    [
      { encoders: { png: { palette: 'yes' } } },
      'option "encoders.png.palette" must be a boolean (got a string "yes")',
    ],
    [
      { signing: { keys: ['short'] } },
      'option "signing.keys[0]" must be a string of 32 or more characters (got a string of 5 characters)',
    ],
    [
      { signing: { keys: [] } },
      'option "signing.keys" must be a non-empty array of keys, newest first (got an empty array)',
    ],
    [
      { signing: { keys: 'k' } },
      'option "signing.keys" must be a non-empty array of keys, newest first (got a string of 1 character)',
    ],
    [
      { cacheControl: { sMaxAge: -1 } },
      'option "cacheControl.sMaxAge" must be an integer >= 0 (got the number -1)',
    ],
    [
      { cacheControl: { sMaxAge: '60' } },
      'option "cacheControl.sMaxAge" must be an integer >= 0 (got a string "60")',
    ],
    [
      { cacheControl: { maxAge: 10 } },
      'option "cacheControl" must be an object { private?, sMaxAge?, immutable? } (got the unknown key "maxAge")',
    ],
    [
      { cacheControl: true },
      'option "cacheControl" must be an object { private?, sMaxAge?, immutable? } (got true)',
    ],
    [
      { cacheControl: { private: 'yes' } },
      'option "cacheControl.private" must be a boolean (got a string "yes")',
    ],
    [
      { cacheControl: { private: true, sMaxAge: 60 } },
      'option "cacheControl" must be private: true without sMaxAge or immutable: true, which are for public images that CDNs may keep (got private: true with sMaxAge: 60)',
    ],
    [
      { cacheControl: { private: true, sMaxAge: 0, immutable: true } },
      'option "cacheControl" must be private: true without sMaxAge or immutable: true, which are for public images that CDNs may keep (got private: true with sMaxAge: 0 and immutable: true)',
    ],
    [{ memory: { maxBytes: 10 } }, 'option "memory.maxBytes" must be an integer >= 1024 (got the number 10)'],
    [
      { memory: { maxBytes: '1mb' } },
      'option "memory.maxBytes" must be an integer >= 1024 (got a string "1mb")',
    ],
    [{ memory: 'big' }, 'option "memory" must be an object { maxBytes? } (got a string "big")'],
    [
      { redis: 'http://127.0.0.1:6379' },
      'option "redis" must be a URL with the redis: or rediss: scheme (got the scheme "http:")',
    ],
    [
      { redis: 'not a url' },
      'option "redis" must be a URL such as redis://127.0.0.1:6379, ioredis options, or { cluster: [...] } (got a string of 9 characters that is not a URL)',
    ],
    [
      { redis: 6379 },
      'option "redis" must be a URL string, ioredis options, or { cluster: [...] } (got the number 6379)',
    ],
    [
      { redis: { cluster: [] } },
      'option "redis.cluster" must be a non-empty array of nodes (got an empty array)',
    ],
    [
      { redis: { cluster: {} } },
      'option "redis.cluster" must be a non-empty array of nodes (got an empty object)',
    ],
    [
      { redis: 'redis://localhost', memory: { maxBytes: 2048 } },
      'options "memory" and "redis" exclude each other: "memory" configures the cache used without Redis',
    ],
    [
      { useCacheManager: true, redis: 'redis://localhost' },
      'option "useCacheManager" excludes "redis" and "memory": the images go to the CACHE_MANAGER of @nestjs/cache-manager',
    ],
    [{ ttlSeconds: 60 }, `options must be an object ${KNOWN} (got the unknown key "ttlSeconds")`],
    ['60', `options must be an object ${KNOWN} (got a string "60")`],
    [
      { hotCache: { maxBytes: 4096 } },
      'option "hotCache" is the in-process tier in front of "redis": set "redis", or size the in-memory cache with "memory"',
    ],
    [
      { redis: 'redis://localhost', hotCache: true },
      'option "hotCache" must be false or an object { maxBytes?, maxAgeMs?, outageMaxAgeMs? } (got true)',
    ],
    [
      { redis: 'redis://localhost', hotCache: 'on' },
      'option "hotCache" must be false or an object { maxBytes?, maxAgeMs?, outageMaxAgeMs? } (got a string "on")',
    ],
    [
      { redis: 'redis://localhost', hotCache: { size: 1 } },
      'option "hotCache" must be false or an object { maxBytes?, maxAgeMs?, outageMaxAgeMs? } (got the unknown key "size")',
    ],
    [
      { redis: 'redis://localhost', hotCache: { maxBytes: 10 } },
      'option "hotCache.maxBytes" must be an integer >= 1024 (got the number 10)',
    ],
    [
      { redis: 'redis://localhost', hotCache: { maxAgeMs: 5 } },
      'option "hotCache.maxAgeMs" must be an integer >= 100 (got the number 5)',
    ],
    [
      { redis: 'redis://localhost', hotCache: { outageMaxAgeMs: -1 } },
      'option "hotCache.outageMaxAgeMs" must be an integer >= 0 (got the number -1)',
    ],
  ])('refuses %p, saying which option, what it takes and what it got', (options, message) => {
    const error = refusal(options);
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error.message).toBe(`ImageResizeModule: ${message}`);
  });

  it('refuses width 0 and quality 0 or 101 in the same words as a spec, a route and a query do', () => {
    expect(refusal({ maxOutputWidth: 0 }).message).toBe(
      'ImageResizeModule: option "maxOutputWidth" must be an integer >= 1 (got the number 0)',
    );
    expect(refusal({ encoders: { webp: { quality: 0 } } }).message).toBe(
      'ImageResizeModule: option "encoders.webp.quality" must be an integer from 1 to 100 (got the number 0)',
    );
    expect(refusal({ encoders: { avif: { quality: 101 } } }).message).toBe(
      'ImageResizeModule: option "encoders.avif.quality" must be an integer from 1 to 100 (got the number 101)',
    );
  });

  it('knows exactly the options of the defaults table', () => {
    expect(Object.keys(resolveImageResizeOptions({})).sort()).toEqual(Object.keys(DEFAULT_OPTIONS).sort());
    for (const key of Object.keys(DEFAULT_OPTIONS)) {
      // A known option is never refused for its name: `undefined` means "the default".
      expect(() => resolveImageResizeOptions({ [key]: undefined })).not.toThrow();
    }
  });

  it('never repeats a secret it refuses: signing keys and Redis URLs are described, not quoted', () => {
    expect(refusal({ signing: { keys: ['s3cr3t-key'] } }).message).not.toContain('s3cr3t-key');
    expect(refusal({ signing: 's3cr3t-key' }).message).toBe(
      'ImageResizeModule: option "signing" must be an object { keys: [...] } (got a string of 10 characters)',
    );
    expect(refusal({ redis: 'http://user:s3cr3t-pass@cache.internal:6379' }).message).not.toContain('s3cr3t');
    expect(refusal({ redis: 'redis//user:s3cr3t-pass@cache' }).message).not.toContain('s3cr3t');
  });

  it.each([
    ['127.0.0.1:8080', '127.0.0.1'],
    ['localhost:3000', 'localhost'],
    ['[::1]:80', '[::1]'],
    ['images.internal:443', 'images.internal'],
  ])('refuses the allowPrivateNetworks entry %s, with a port, saying to drop it', (entry, host) => {
    const error = refusal({ sources: { allowPrivateNetworks: [entry] } });
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error.message).toBe(
      `ImageResizeModule: option "sources.allowPrivateNetworks[0]" must be a host without a port, such as "${host}" (hosts are matched on any port) (got a string "${entry}")`,
    );
  });

  it('takes sources.fileRoot as a real folder, and refuses what is not one', () => {
    const root = mkdtempSync(join(tmpdir(), 'file-root-'));
    try {
      const link = `${root}-link`;
      symlinkSync(root, link);
      try {
        expect(resolveImageResizeOptions({ sources: { fileRoot: link } }).sources.fileRoot).toBe(
          realpathSync(root),
        );
      } finally {
        rmSync(link);
      }
      writeFileSync(join(root, 'file.png'), 'x');
      const file = join(root, 'file.png');
      const missing = join(root, 'missing');
      expect(refusal({ sources: { fileRoot: file } }).message).toBe(
        `ImageResizeModule: option "sources.fileRoot" must be a folder (got a string ${JSON.stringify(file)}, which is not a folder)`,
      );
      expect(refusal({ sources: { fileRoot: missing } }).message).toBe(
        `ImageResizeModule: option "sources.fileRoot" must be an existing folder (got a string ${JSON.stringify(missing)} that does not exist)`,
      );
      expect(refusal({ sources: { fileRoot: 3 } }).message).toBe(
        'ImageResizeModule: option "sources.fileRoot" must be the path of a folder (got the number 3)',
      );
      expect(refusal({ sources: { fileRoot: ' ' } }).message).toBe(
        'ImageResizeModule: option "sources.fileRoot" must be the path of a folder (got a string " ")',
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a budget of source bytes in flight smaller than one source', () => {
    expect(refusal({ maxSourceBytes: 1000, maxSourceBytesInFlight: 999 }).message).toBe(
      'ImageResizeModule: option "maxSourceBytesInFlight" must be at least "maxSourceBytes" (1000), or no source of that size could ever load (got the number 999)',
    );
    expect(resolveImageResizeOptions({ maxSourceBytes: 1000, maxSourceBytesInFlight: 1000 })).toMatchObject({
      maxSourceBytesInFlight: 1000,
    });
  });

  it('refuses a port in allowedHosts too, and keeps IPv6 addresses, which have colons of their own', () => {
    expect(refusal({ sources: { allowedHosts: ['cdn.example.com', 'cdn.example.com:443'] } }).message).toBe(
      'ImageResizeModule: option "sources.allowedHosts[1]" must be a host without a port, such as "cdn.example.com" (hosts are matched on any port) (got a string "cdn.example.com:443")',
    );
    expect(
      resolveImageResizeOptions({ sources: { allowPrivateNetworks: ['::1', '[::1]', 'fd00::80'] } }).sources
        .allowPrivateNetworks,
    ).toEqual(['::1', '[::1]', 'fd00::80']);
  });
});
