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

/** An HTML page, as an origin might send it with an image Content-Type. */
export const HTML_PAGE = '<!doctype html><html><body><script>alert(1)</script></body></html>';
