import { createDeflate, crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/**
 * Hostile originals that cost little to send and much to decode: "bombs" hidden in the structure of
 * the container (JPEG scans, PNG chunks, SVG documents). Each generator is quick and deterministic,
 * and the expensive ones are made once per process.
 */

const memo = new Map<string, Promise<Buffer>>();
function once(key: string, make: () => Promise<Buffer>): Promise<Buffer> {
  let made = memo.get(key);
  if (!made) {
    made = make();
    memo.set(key, made);
  }
  return made;
}

// ---- JPEG ----

/** A flat grey progressive JPEG from sharp (mozjpeg's scan script: one DC scan, one AC scan per component). */
export function progressiveJpeg(size: number): Promise<Buffer> {
  return once(`jpeg:${size}`, () =>
    sharp({ create: { width: size, height: size, channels: 3, background: '#808080' } })
      .jpeg({ progressive: true, mozjpeg: true })
      .toBuffer(),
  );
}

/** Offsets of the SOS segments of a JPEG written by sharp, each with its entropy-coded data. */
function scanSegments(jpeg: Buffer): Array<{ start: number; end: number }> {
  const scans: Array<{ start: number; end: number }> = [];
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at + 1] !== 0xd9) {
    const marker = jpeg[at + 1];
    let end = at + 2 + jpeg.readUInt16BE(at + 2);
    if (marker === 0xda) {
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart.
      while (!(jpeg[end] === 0xff && jpeg[end + 1] !== 0 && (jpeg[end + 1] < 0xd0 || jpeg[end + 1] > 0xd7)))
        end++;
      scans.push({ start: at, end });
    }
    at = end;
  }
  return scans;
}

/**
 * A progressive `size` x `size` JPEG whose luma AC scan is repeated `repeats` times. libjpeg decodes
 * every scan over every block, so the cost grows with `repeats` while the file grows by about 60
 * bytes per repeat (6000 px, 1000 repeats: 164,862 bytes, about 3.5 CPU-s to decode).
 *
 * The repeated scan is the full-precision luma AC scan (Ss=1, Se=63, Ah=Al=0): libjpeg accepts it
 * again without a warning. Repeating a successive-approximation refinement scan instead raises one
 * warning per coefficient, and libvips gives up after 100 warnings.
 */
export function jpegWithRepeatedScans({ size = 6000, repeats = 1000 } = {}): Promise<Buffer> {
  return once(`jpeg-scans:${size}:${repeats}`, async () => {
    const jpeg = await progressiveJpeg(size);
    const luma = scanSegments(jpeg).find(({ start }) => {
      const components = jpeg[start + 4];
      const spectralStart = jpeg[start + 5 + 2 * components];
      return components === 1 && jpeg[start + 5] === 1 && spectralStart > 0;
    });
    if (!luma) throw new Error('sharp wrote no luma AC scan');
    const scan = jpeg.subarray(luma.start, luma.end);
    return Buffer.concat([
      jpeg.subarray(0, luma.end),
      ...Array.from({ length: repeats }, () => scan),
      jpeg.subarray(luma.end),
    ]);
  });
}

// ---- PNG ----

/** One PNG chunk: length, type, data and a valid CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

/** `png` with `chunks` inserted right after its IHDR chunk (IHDR ends at byte 33). */
export function withChunks(png: Buffer, chunks: Buffer[]): Buffer {
  return Buffer.concat([png.subarray(0, 33), ...chunks, png.subarray(33)]);
}

/** A small opaque RGB PNG from sharp. */
export function smallPng(size = 1): Promise<Buffer> {
  return once(`png:${size}`, () =>
    sharp({ create: { width: size, height: size, channels: 3, background: '#2563eb' } })
      .png()
      .toBuffer(),
  );
}

/** A text chunk of `type` whose text (zeros, or `text`) is `bytes` long; zTXt and iTXt compress it. */
export function textChunk(
  type: 'tEXt' | 'zTXt' | 'iTXt',
  keyword: string,
  bytes: number,
  text?: string,
): Buffer {
  const body = text === undefined ? Buffer.alloc(bytes) : Buffer.from(text, 'latin1');
  const key = Buffer.from(`${keyword}\0`, 'latin1');
  switch (type) {
    case 'tEXt':
      return pngChunk(type, Buffer.concat([key, body]));
    case 'zTXt':
      return pngChunk(type, Buffer.concat([key, Buffer.from([0]), deflateSync(body, { level: 9 })]));
    case 'iTXt':
      // compressed, method 0, no language tag, no translated keyword
      return pngChunk(type, Buffer.concat([key, Buffer.from([1, 0, 0, 0]), deflateSync(body, { level: 9 })]));
  }
}

/**
 * A 1x1 PNG carrying `count` compressed text chunks that each inflate to `inflatedBytes` (defaults:
 * 100 zTXt of 7.9 MB, a 771 KB file; libvips inflates every one while reading the metadata).
 */
export async function pngWithTextBomb({
  type = 'zTXt' as 'zTXt' | 'iTXt',
  count = 100,
  inflatedBytes = 7_900_000,
} = {}): Promise<Buffer> {
  const one = textChunk(type, 'Comment', inflatedBytes);
  return withChunks(
    await smallPng(),
    Array.from({ length: count }, () => one),
  );
}

/** An iCCP chunk holding `profile`, compressed. */
export function iccpChunk(profile: Buffer, name = 'icc'): Buffer {
  return pngChunk(
    'iCCP',
    Buffer.concat([Buffer.from(`${name}\0\0`, 'latin1'), deflateSync(profile, { level: 9 })]),
  );
}

/** A 1x1 PNG whose iCCP chunk inflates to `inflatedBytes` of zeros (100 MB by default, a 97 KB file). */
export async function pngWithIccpBomb(inflatedBytes = 100_000_000): Promise<Buffer> {
  const data = Buffer.concat([Buffer.from('icc\0\0', 'latin1'), await deflatedZeros(inflatedBytes)]);
  return withChunks(await smallPng(), [pngChunk('iCCP', data)]);
}

/** A PNG with sRGB's ICC profile, as sharp writes it with `withIccProfile('srgb')`. */
export function pngWithSrgbProfile(size = 16): Promise<Buffer> {
  return once(`png-srgb:${size}`, () =>
    sharp({ create: { width: size, height: size, channels: 3, background: '#16a34a' } })
      .withIccProfile('srgb')
      .png()
      .toBuffer(),
  );
}

/**
 * A zlib stream of `bytes` zeros, compressed as far as zlib goes (about 1/1000). Deflated as a
 * stream, so the zeros are never held in memory.
 */
function deflatedZeros(bytes: number): Promise<Buffer> {
  return once(`zeros:${bytes}`, async () => {
    const deflate = createDeflate({ level: 9 });
    const parts: Buffer[] = [];
    deflate.on('data', (part: Buffer) => parts.push(part));
    const ended = new Promise<Buffer>((resolve, reject) => {
      deflate.on('end', () => resolve(Buffer.concat(parts)));
      deflate.on('error', reject);
    });
    const zeros = Buffer.alloc(1 << 20);
    for (let left = bytes; left > 0; left -= zeros.length) {
      if (!deflate.write(left >= zeros.length ? zeros : zeros.subarray(0, left))) {
        await new Promise((resolve) => deflate.once('drain', resolve));
      }
    }
    deflate.end();
    return ended;
  });
}

/** A black 8-bit greyscale `width` x `height` PNG (100 MP is a 97 KB file). */
export function blackPng(width: number, height: number): Promise<Buffer> {
  return once(`black:${width}x${height}`, async () => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = 8; // bit depth; colour type 0 (grey), deflate, no filter method, no interlace
    // a filter byte per row, all zero like the pixels
    const idat = await deflatedZeros((width + 1) * height);
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', idat),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
  });
}

// ---- SVG ----

const SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"';

/** A small ordinary SVG: a few shapes, reused with `<use>`. */
export function ordinarySvg(): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<svg ${SVG_NS} width="120" height="60" viewBox="0 0 120 60">
  <defs><g id="dot"><circle r="8" fill="#1d4ed8"/><circle r="3" fill="#fff"/></g></defs>
  <rect width="120" height="60" fill="#e5e7eb"/>
  <use href="#dot" x="20" y="30"/><use xlink:href="#dot" x="60" y="30"/><use href="#dot" x="100" y="30"/>
</svg>`);
}

/**
 * A 64x64 SVG whose `<image>` embeds a black `megapixels` MP PNG as a `data:` URL (100 MP: a 130 KB
 * file; librsvg decodes the whole raster whatever the output size).
 */
export function svgEmbeddingRaster(megapixels: number): Promise<Buffer> {
  return once(`svg-raster:${megapixels}`, async () => {
    const side = Math.round(Math.sqrt(megapixels * 1_000_000));
    const png = await blackPng(side, side);
    return Buffer.from(
      `<svg ${SVG_NS} width="64" height="64"><image width="64" height="64" ` +
        `href="data:image/png;base64,${png.toString('base64')}"/></svg>`,
    );
  });
}

/**
 * An SVG of `depth` levels of groups, each `<use>`-ing the level below `fanout` times: a few hundred
 * bytes that expand to `fanout ** depth` shapes (librsvg gives up at 500,000 references, after seconds).
 */
export function svgUseBomb({ depth = 10, fanout = 10 } = {}): Buffer {
  const levels = [`<g id="l0"><rect width="1" height="1"/></g>`];
  for (let level = 1; level <= depth; level++) {
    const uses = Array.from({ length: fanout }, () => `<use href="#l${level - 1}"/>`).join('');
    levels.push(`<g id="l${level}">${uses}</g>`);
  }
  return Buffer.from(
    `<svg ${SVG_NS} width="64" height="64"><defs>${levels.join('')}</defs><use href="#l${depth}"/></svg>`,
  );
}

/** The "billion laughs": nested entities in the DOCTYPE, expanded inside the document. */
export function svgEntityBomb(levels = 9): Buffer {
  const entities = [`<!ENTITY lol0 "lol">`];
  for (let level = 1; level <= levels; level++) {
    entities.push(`<!ENTITY lol${level} "${`&lol${level - 1};`.repeat(10)}">`);
  }
  return Buffer.from(
    `<?xml version="1.0"?>\n<!DOCTYPE svg [${entities.join('')}]>\n` +
      `<svg ${SVG_NS} width="64" height="64"><text y="20">&lol${levels};</text></svg>`,
  );
}
