import { decodeCachedImage, encodeCachedImage } from './cached-image.codec';
import type { CachedImage } from './image-cache.interface';

const image = (size: number): CachedImage => ({
  body: Buffer.alloc(size, 7),
  contentType: 'image/png',
  etag: '"5000-0DtqHaJ+p9Ne1BqOL4Sf9Y0WlNE"',
  width: 256,
  height: 128,
  format: 'png',
});

describe('cached image codec', () => {
  it('round-trips the bytes and the metadata', () => {
    const original = image(5000);
    expect(decodeCachedImage(encodeCachedImage(original))).toEqual(original);
  });

  it('adds at most 512 bytes to the image', () => {
    for (const size of [0, 1, 20_000]) {
      expect(encodeCachedImage(image(size)).length - size).toBeLessThanOrEqual(512);
    }
  });

  it('decodes anything else as a miss, never as an image', () => {
    const encoded = encodeCachedImage(image(100));
    expect(decodeCachedImage(undefined)).toBeUndefined();
    expect(decodeCachedImage(Buffer.alloc(0))).toBeUndefined();
    expect(decodeCachedImage(Buffer.from('{"t":"image/png"}'))).toBeUndefined();
    expect(decodeCachedImage(encoded.subarray(0, 10))).toBeUndefined();
    const longerThanData = Buffer.from(encoded.subarray(0, 6));
    longerThanData.writeUInt16BE(60000, 4);
    expect(decodeCachedImage(longerThanData)).toBeUndefined();
    // The right magic, but a header that is not JSON
    const notJson = Buffer.concat([
      Buffer.from('NIR1'),
      Buffer.from([0, 4]),
      Buffer.from('nope'),
      Buffer.alloc(10),
    ]);
    expect(decodeCachedImage(notJson)).toBeUndefined();
  });
});
