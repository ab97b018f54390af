import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from './image-resize.options';

describe('resolveImageResizeOptions', () => {
  it('applies the documented defaults', () => {
    expect(resolveImageResizeOptions(undefined)).toEqual({
      redis: undefined,
      useCacheManager: false,
      hotCache: false,
      memory: { maxBytes: 64 * 1024 * 1024 },
      ttl: 2_592_000,
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

  it('puts a 16 MiB hot tier in front of Redis unless told otherwise', () => {
    const redis = 'redis://127.0.0.1:6379';
    expect(resolveImageResizeOptions({ redis }).hotCache).toEqual({
      maxBytes: 16 * 1024 * 1024,
      maxAgeMs: 60_000,
    });
    expect(
      resolveImageResizeOptions({ redis, hotCache: { maxBytes: 4096, maxAgeMs: 500 } }).hotCache,
    ).toEqual({ maxBytes: 4096, maxAgeMs: 500 });
    expect(resolveImageResizeOptions({ redis, hotCache: false }).hotCache).toBe(false);
    expect(resolveImageResizeOptions({ hotCache: false }).hotCache).toBe(false);
  });

  it.each([
    [{ ttl: -1 }, /option "ttl" must be an integer >= 1 \(got the number -1\)/],
    [{ ttl: 1.5 }, /option "ttl"/],
    [{ ttl: '60' }, /option "ttl"/],
    [{ maxSourceBytes: 0 }, /option "maxSourceBytes"/],
    [{ sources: { maxRedirects: -1 } }, /option "sources.maxRedirects" must be an integer >= 0/],
    [
      { sources: { allowedHosts: 'cdn.example.com' } },
      /option "sources.allowedHosts" must be an array of host names/,
    ],
    [
      { sources: { allowPrivateNetworks: ['a b'] } },
      /option "sources.allowPrivateNetworks" must be an array/,
    ],
    [{ sources: { allowHosts: [] } }, /unknown option "sources.allowHosts"/],
    [{ sources: [] }, /option "sources" must be an object/],
    [{ processingTimeoutMs: 0 }, /option "processingTimeoutMs"/],
    [{ maxAnimationFrames: -3 }, /option "maxAnimationFrames"/],
    [{ allowSvg: 'no' }, /option "allowSvg" must be a boolean/],
    [
      { encoders: { jpeg: { quality: 0 } } },
      /option "encoders.jpeg.quality" must be an integer from 1 to 100/,
    ],
    [{ encoders: { avif: { effort: 10 } } }, /option "encoders.avif.effort" must be an integer from 0 to 9/],
    [{ encoders: { gif: {} } }, /unknown option "encoders.gif"/],
    [{ encoders: { png: { palette: 'yes' } } }, /option "encoders.png.palette" must be a boolean/],
    [
      { signing: { keys: ['short'] } },
      /option "signing" must be \{ keys: \[...\] \} with at least one key of 32/,
    ],
    [{ signing: { keys: [] } }, /option "signing"/],
    [
      { cacheControl: { sMaxAge: -1 } },
      /option "cacheControl" must be \{ sMaxAge\?: seconds, immutable\?: boolean \}/,
    ],
    [{ cacheControl: { maxAge: 10 } }, /option "cacheControl"/],
    [{ memory: { maxBytes: 10 } }, /option "memory.maxBytes" must be an integer >= 1024/],
    [{ memory: 'big' }, /option "memory" must be an object/],
    [{ redis: 'http://127.0.0.1:6379' }, /option "redis" must use the redis: or rediss: scheme/],
    [{ redis: 'not a url' }, /option "redis" must be a URL/],
    [{ redis: 6379 }, /option "redis" must be a URL string, ioredis options/],
    [{ redis: { cluster: [] } }, /option "redis.cluster" must be a non-empty array/],
    [
      { redis: 'redis://localhost', memory: { maxBytes: 2048 } },
      /options "memory" and "redis" exclude each other/,
    ],
    [{ useCacheManager: true, redis: 'redis://localhost' }, /option "useCacheManager" excludes "redis"/],
    [{ useCacheManager: 'yes' }, /option "useCacheManager" must be a boolean/],
    [{ keyPrefix: 'has space' }, /option "keyPrefix"/],
    [{ allowRedraw: 'yes' }, /option "allowRedraw" must be a boolean or a function/],
    [{ ttlSeconds: 60 }, /unknown option "ttlSeconds"; known options are: redis, useCacheManager/],
    [{ hotCache: { maxBytes: 4096 } }, /option "hotCache" is the in-process tier in front of "redis"/],
    [
      { redis: 'redis://localhost', hotCache: true },
      /option "hotCache" must be false or \{ maxBytes\?, maxAgeMs\? \}/,
    ],
    [
      { redis: 'redis://localhost', hotCache: { maxBytes: 10 } },
      /option "hotCache.maxBytes" must be an integer >= 1024/,
    ],
    [{ redis: 'redis://localhost', hotCache: { size: 1 } }, /unknown option "hotCache.size"/],
  ])('refuses %j with a message naming the option', (options, message) => {
    const attempt = () => resolveImageResizeOptions(options as never);
    expect(attempt).toThrow(ImageResizeConfigError);
    expect(attempt).toThrow(message);
  });

  // Every check of a value says what it got, so that a string from the environment is spotted at once.
  it.each([
    [{ ttl: '3600' }, 'option "ttl" must be an integer >= 1 (got a string "3600")'],
    [{ ttl: -5 }, 'option "ttl" must be an integer >= 1 (got the number -5)'],
    [{ ttl: 1.5 }, 'option "ttl" must be an integer >= 1 (got the number 1.5)'],
    [{ ttl: null }, 'option "ttl" must be an integer >= 1 (got null)'],
    [{ maxQueue: '10' }, 'option "maxQueue" must be an integer >= 0 (got a string "10")'],
    [{ sources: { maxRedirects: true } }, 'option "sources.maxRedirects" must be an integer >= 0 (got true)'],
    [{ allowSvg: 'no' }, 'option "allowSvg" must be a boolean (got a string "no")'],
    [{ useCacheManager: 1 }, 'option "useCacheManager" must be a boolean (got the number 1)'],
    [{ allowRedraw: 'yes' }, '(got a string "yes")'],
    [{ keyPrefix: 42 }, 'option "keyPrefix" must be at most 64 characters'],
    [{ keyPrefix: 42 }, '(got the number 42)'],
    [{ memory: 'big' }, '(got a string "big")'],
    [
      { memory: { maxBytes: '1mb' } },
      'option "memory.maxBytes" must be an integer >= 1024 (got a string "1mb")',
    ],
    [{ sources: [] }, '(got an empty array)'],
    [{ sources: ['cdn.example.com'] }, '(got an array)'],
    [{ sources: { allowedHosts: 'cdn.example.com' } }, '(got a string "cdn.example.com")'],
    [{ sources: { allowPrivateNetworks: 'yes' } }, '(got a string "yes")'],
    [{ sources: { allowPrivateNetworks: [1] } }, '(got an array with the number 1)'],
    [{ encoders: 'fast' }, '(got a string "fast")'],
    [{ encoders: { jpeg: { quality: '80' } } }, '(got a string "80")'],
    [{ encoders: { avif: { effort: 'max' } } }, '(got a string "max")'],
    [{ encoders: { png: { palette: 'yes' } } }, '(got a string "yes")'],
    [{ cacheControl: { sMaxAge: '60' } }, '(got sMaxAge: a string "60")'],
    [{ cacheControl: { maxAge: 10 } }, '(got the unknown key "maxAge")'],
    [{ cacheControl: true }, '(got true)'],
    [{ redis: 6379 }, '(got the number 6379)'],
    [{ redis: { cluster: {} } }, '(got an object)'],
    [{ redis: 'http://127.0.0.1:6379' }, '(got the scheme "http:")'],
    [{ hotCache: 'on', redis: 'redis://localhost' }, '(got a string "on")'],
    [{ hotCache: { maxAgeMs: 5 }, redis: 'redis://localhost' }, '(got the number 5)'],
    [{ signing: { keys: 'k' } }, '(got a string of 1 character)'],
    [{ signing: { keys: [] } }, '(got an empty array)'],
    [{ signing: { keys: ['short'] } }, '(got an array with a string of 5 characters)'],
  ])('says what it got for %j', (options, message) => {
    expect(() => resolveImageResizeOptions(options as never)).toThrow(message);
  });

  it('never repeats a secret it refuses: signing keys and Redis URLs are described, not quoted', () => {
    const messageOf = (options: object) => {
      try {
        resolveImageResizeOptions(options as never);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(messageOf({ signing: { keys: ['s3cr3t-key'] } })).not.toContain('s3cr3t-key');
    expect(messageOf({ redis: 'http://user:s3cr3t-pass@cache.internal:6379' })).not.toContain('s3cr3t');
  });

  it.each([
    ['127.0.0.1:8080', '127.0.0.1'],
    ['localhost:3000', 'localhost'],
    ['[::1]:80', '[::1]'],
    ['images.internal:443', 'images.internal'],
  ])('refuses the allowPrivateNetworks entry %s, with a port, saying to drop it', (entry, host) => {
    const attempt = () => resolveImageResizeOptions({ sources: { allowPrivateNetworks: [entry] } });
    expect(attempt).toThrow(ImageResizeConfigError);
    expect(attempt).toThrow(
      `option "sources.allowPrivateNetworks" lists "${entry}" with a port: drop the port ("${host}")`,
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
      expect(() => resolveImageResizeOptions({ sources: { fileRoot: join(root, 'file.png') } })).toThrow(
        /option "sources.fileRoot" must be a folder \(got a string ".*file.png", which is not a folder\)/,
      );
      expect(() => resolveImageResizeOptions({ sources: { fileRoot: join(root, 'missing') } })).toThrow(
        /option "sources.fileRoot" must be an existing folder/,
      );
      expect(() => resolveImageResizeOptions({ sources: { fileRoot: 3 as unknown as string } })).toThrow(
        'option "sources.fileRoot" must be the path of a folder (got the number 3)',
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a budget of source bytes in flight smaller than one source', () => {
    expect(() => resolveImageResizeOptions({ maxSourceBytes: 1000, maxSourceBytesInFlight: 999 })).toThrow(
      /option "maxSourceBytesInFlight" must be at least "maxSourceBytes" \(1000\)/,
    );
    expect(resolveImageResizeOptions({ maxSourceBytes: 1000, maxSourceBytesInFlight: 1000 })).toMatchObject({
      maxSourceBytesInFlight: 1000,
    });
  });

  it('refuses a port in allowedHosts too, and keeps IPv6 addresses, which have colons of their own', () => {
    expect(() => resolveImageResizeOptions({ sources: { allowedHosts: ['cdn.example.com:443'] } })).toThrow(
      /option "sources.allowedHosts" lists "cdn.example.com:443" with a port: drop the port/,
    );
    expect(
      resolveImageResizeOptions({ sources: { allowPrivateNetworks: ['::1', '[::1]', 'fd00::80'] } }).sources
        .allowPrivateNetworks,
    ).toEqual(['::1', '[::1]', 'fd00::80']);
  });
});
