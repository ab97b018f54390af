import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/** The same bytes on every run, so that runs compare. */
function grain(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let seed = 42;
  for (let i = 0; i < length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    bytes[i] = seed >> 23;
  }
  return bytes;
}

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="1200" viewBox="0 0 1200 1200">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
    <stop offset="0" stop-color="#22d3ee"/><stop offset=".5" stop-color="#a78bfa"/><stop offset="1" stop-color="#f472b6"/>
  </linearGradient></defs>
  <circle cx="600" cy="600" r="520" fill="url(#g)"/>
  <path d="M250 760 C 420 420, 780 420, 950 760" stroke="#fff" stroke-width="70" fill="none" stroke-linecap="round"/>
  <circle cx="600" cy="420" r="90" fill="#fff" fill-opacity=".85"/>
</svg>`;

function scene(width: number, height: number): string {
  const colours = ['#ef4444', '#10b981', '#3b82f6', '#eab308', '#a855f7'];
  const discs = Array.from(
    { length: 60 },
    (_, i) =>
      `<circle cx="${(i * 379) % width}" cy="${(i * 211) % height}" r="${40 + ((i * 37) % 160)}" fill="${colours[i % 5]}" fill-opacity=".55"/>`,
  ).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
    <stop offset="0" stop-color="#1e3a8a"/><stop offset=".6" stop-color="#f59e0b"/><stop offset="1" stop-color="#065f46"/>
  </linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#g)"/>${discs}</svg>`;
}

const PHOTO = { width: 2048, height: 1536 };

/** The photo's pixels before grain: the same scene on every run. */
function photoScene(): Promise<Buffer> {
  return sharp(Buffer.from(scene(PHOTO.width, PHOTO.height)))
    .removeAlpha()
    .raw()
    .toBuffer();
}

/** `base` with grain added, the grain read from `noise` starting at `shift`, as a JPEG at quality 88. */
function grainyJpeg(base: Buffer, noise: Buffer, shift: number): Promise<Buffer> {
  const pixels = Buffer.alloc(base.length);
  for (let i = 0; i < base.length; i++) {
    pixels[i] = Math.max(0, Math.min(255, base[i] + (noise[(i + shift) % noise.length] % 41) - 20));
  }
  return sharp(pixels, { raw: { ...PHOTO, channels: 3 } })
    .jpeg({ quality: 88 })
    .toBuffer();
}

/**
 * Writes the benchmark's originals into `dir`: `logo.png`, a 1200x1200 transparent logo (about 25 KB
 * once resized to 256 px PNG), and `photo.jpg`, a 2048x1536 (3.1 MP) JPEG with grain, like a photo.
 */
export async function writeFixtures(dir: string): Promise<void> {
  writeFileSync(join(dir, 'logo.png'), await sharp(Buffer.from(LOGO)).png().toBuffer());
  const base = await photoScene();
  writeFileSync(join(dir, 'photo.jpg'), await grainyJpeg(base, grain(base.length), 0));
}

/**
 * Writes `count` originals like `photo.jpg` into `dir`, as `photo-0.jpg` and on: the same scene with
 * different grain, so that no two have the same bytes, and each costs what the photo costs to resize.
 */
export async function writeDistinctPhotos(dir: string, count: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const base = await photoScene();
  const noise = grain(base.length);
  for (let i = 0; i < count; i++) {
    writeFileSync(join(dir, `photo-${i}.jpg`), await grainyJpeg(base, noise, (i + 1) * 7919));
  }
}
