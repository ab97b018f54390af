import { availableParallelism } from 'node:os';
import { ImageResizeConfigError } from './errors/image-resize.errors';
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
      fetchTimeoutMs: 10_000,
      sources: { allowPrivateNetworks: false, maxRedirects: 3 },
      maxInputPixels: 40_000_000,
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
    [{ ttl: -1 }, /option "ttl" must be an integer >= 1, got -1/],
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
});
