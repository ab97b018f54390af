import sharp from 'sharp';

/**
 * Originals that cost far more to process than their bytes suggest, without breaking any limit
 * the library checks before decoding. Made in memory in well under a second each, except
 * {@link deepAvif} (an AV1 encode of its full size: a few seconds).
 */

/**
 * A smooth two-colour gradient PNG of `size` x `size` (about 3 MB at 6000): it decodes in well
 * under a second, but encoding it as a 4096x4096 AVIF (`fit: 'fill'`) takes sharp several
 * CPU-seconds, long past a short `processingTimeoutMs`.
 */
export function slowGradientPng(size = 6000): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#f00"/><stop offset="1" stop-color="#00f"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/**
 * A flat-colour, interlaced 16-bit RGB PNG of `size` x `size`: a few hundred KB at 6300, under the
 * default 40 MP, and 238 MB once decoded (2 bytes a sample), past the default `maxDecodedBytes`
 * (160 MB). Interlaced, so that a decoder must hold the whole image.
 */
export function deepPng(size = 6300): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#3a7' } })
    .toColourspace('rgb16')
    .png({ compressionLevel: 9, progressive: true })
    .toBuffer();
}

/**
 * A flat-colour 10-bit AVIF of `size` x `size`: about 1 KB at 6300, under the default 40 MP, and
 * 238 MB once decoded (libvips decodes it to 16 bits a sample).
 */
export function deepAvif(size = 6300): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#3a7' } })
    .avif({ bitdepth: 10, effort: 0 })
    .toBuffer();
}
