import sharp from 'sharp';

/** A 800x400 PNG: an opaque blue disc on a transparent background. */
export function transparentPng(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="400">
    <circle cx="400" cy="200" r="180" fill="#1d4ed8"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A 600x300 JPEG of two colour halves. */
export function photoJpeg(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="300">
    <rect width="300" height="300" fill="#dc2626"/><rect x="300" width="300" height="300" fill="#16a34a"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

/** A 96x96 JPEG of noise, so that every encoder setting gives other bytes. */
export function noisyJpeg(): Promise<Buffer> {
  return sharp({
    create: {
      width: 96,
      height: 96,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** A 1x1 cached image, for tests of a cache itself: `extra` adds or overrides fields. */
export function tinyCachedImage<T extends object>(extra: T = {} as T) {
  return {
    body: Buffer.from('image'),
    contentType: 'image/png',
    etag: '"5-abc"',
    width: 1,
    height: 1,
    format: 'png' as const,
    ...extra,
  };
}

/** An HTML page, as an origin might send it with an image Content-Type. */
export const HTML_PAGE = '<!doctype html><html><body><script>alert(1)</script></body></html>';

/** A 60x60 PNG of one colour: an original whose replacement is easy to tell apart. */
export function swatch(background: string): Promise<Buffer> {
  return sharp({ create: { width: 60, height: 60, channels: 3, background } })
    .png()
    .toBuffer();
}
