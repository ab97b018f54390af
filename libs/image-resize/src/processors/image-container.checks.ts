import { gunzipSync, inflateSync } from 'node:zlib';
import { SaxesParser } from 'saxes';
import { InvalidImageError, SourceTooLargeError } from '../errors/image-resize.errors';

/** What the container checks are held to (from the module options). */
export interface ContainerLimits {
  /** Most scans a JPEG may have. */
  maxJpegScans: number;
  /** Whether SVG is accepted at all. */
  allowSvg: boolean;
  /** Most pixels of an original (also bounds what an SVG may embed). */
  maxInputPixels: number;
}

/**
 * Most elements an SVG may expand to: its elements, plus, for every reference (`href="#id"`, as in
 * `<use>`), the elements of what it references. Logos and icons have tens to hundreds; librsvg renders
 * 10,000 in about a quarter of a CPU-second. librsvg's own bound (500,000 references) lets an
 * exponential `<use>` tree of a few hundred bytes cost seconds of CPU before it fails.
 */
export const SVG_NODE_BUDGET = 10_000;

/**
 * Most attributes, text nodes, comments, processing instructions and CDATA sections an SVG may have
 * in all (20 per element at {@link SVG_NODE_BUDGET}). They bound the parser's own work, which is
 * about a microsecond each.
 */
export const SVG_MARKUP_BUDGET = 200_000;

/**
 * Most bytes of an SVG, plain or once inflated. The parser reads 10-30 MB a second, so this bounds
 * the check to a few hundred milliseconds; without embedded images (refused), a document within the
 * node budget is rarely over 1 MB.
 */
export const MAX_SVG_BYTES = 4 * 1024 * 1024;

/** Most bytes a PNG's ICC profile may inflate to (RGB profiles are a few KB; large LUT profiles about 1 MB). */
export const MAX_ICC_PROFILE_BYTES = 4 * 1024 * 1024;

/** Most chunks a PNG may have (a 20 MiB PNG written in 8 KiB IDAT chunks has about 2,600). */
export const MAX_PNG_CHUNKS = 100_000;

/**
 * Reads an original's container structure in linear time, before any decoder sees it, and refuses
 * known bombs with a 422. Returns the bytes to decode: the input itself, or a copy without the parts
 * that are never used (metadata is stripped from every output anyway).
 *
 * - JPEG: more than `maxJpegScans` scans (SOS segments) is refused.
 * - PNG: text chunks (tEXt, zTXt, iTXt) are removed; more than one ICC profile, a profile that
 *   inflates past {@link MAX_ICC_PROFILE_BYTES} or does not inflate, and more than
 *   {@link MAX_PNG_CHUNKS} chunks are refused.
 * - SVG (plain or gzip-compressed): refused unless `allowSvg`; then refused when it declares
 *   entities, references a `data:` URL, expands past {@link SVG_NODE_BUDGET} elements or references
 *   itself, declares more than `maxInputPixels`, is not well-formed or is not in an ASCII-compatible
 *   encoding. A compressed SVG is returned inflated.
 * - Anything else is returned as it is, for the decoder to judge.
 */
export function checkContainer(input: Buffer, limits: ContainerLimits): Buffer {
  if (input[0] === 0xff && input[1] === 0xd8) {
    checkJpegScans(input, limits.maxJpegScans);
    return input;
  }
  if (startsWith(input, PNG_SIGNATURE)) return withoutPngText(input);
  if (isOtherRaster(input)) return input;
  const gzip = input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b;
  if (!gzip && !containsSvgTag(input)) return input;
  if (!limits.allowSvg) {
    throw new InvalidImageError(
      gzip ? 'Compressed sources are not accepted' : 'SVG sources are not accepted',
    );
  }
  const svg = gzip ? inflateSvg(input) : input;
  checkSvg(svg, limits);
  return svg;
}

function startsWith(input: Buffer, prefix: Buffer): boolean {
  return input.length >= prefix.length && input.subarray(0, prefix.length).equals(prefix);
}

/** The other formats the processor accepts (GIF, WebP, TIFF, HEIF/AVIF), so that none is taken for SVG. */
function isOtherRaster(input: Buffer): boolean {
  const ascii = (from: number, to: number) => input.toString('latin1', from, to);
  return (
    ascii(0, 4) === 'GIF8' ||
    (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') ||
    ['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4)) ||
    ascii(4, 8) === 'ftyp'
  );
}

// ---- JPEG ----

/**
 * Walks the marker segments and counts the scans. Entropy-coded data after an SOS runs to the next
 * 0xFF that is followed neither by 0x00 (a stuffed byte) nor by a restart marker. Bytes between
 * segments that are not a marker are skipped, as libjpeg skips them. A truncated file is left to the
 * decoder.
 */
function checkJpegScans(input: Buffer, maxScans: number): void {
  let scans = 0;
  let at = 2;
  for (;;) {
    at = nextFF(input, at);
    if (at < 0 || at + 1 >= input.length) return;
    const marker = input[at + 1];
    if (marker === 0xff || marker === 0x00) {
      at += 1; // fill byte, or a stray 0xFF00
      continue;
    }
    if (marker === 0xd9) return; // EOI
    if (marker === 0xd8) throw new InvalidImageError('Source JPEG structure is invalid');
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // TEM and RSTn stand alone
      continue;
    }
    if (at + 4 > input.length) return;
    const length = input.readUInt16BE(at + 2);
    if (length < 2) throw new InvalidImageError('Source JPEG structure is invalid');
    at += 2 + length;
    if (marker !== 0xda) continue;
    if (++scans > maxScans) throw new InvalidImageError(`Source JPEG has more than ${maxScans} scans`);
    at = endOfEntropyData(input, at);
  }
}

/** Where the next marker after entropy-coded data starting at `at` is (or the end of the input). */
function endOfEntropyData(input: Buffer, at: number): number {
  for (;;) {
    at = nextFF(input, at);
    if (at < 0 || at + 1 >= input.length) return input.length;
    const next = input[at + 1];
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
    else if (next === 0xff) at += 1;
    else return at;
  }
}

/** The first 0xFF at or after `at` (-1 if none); runs of 0xFF and stuffed pairs skip the native call. */
function nextFF(input: Buffer, at: number): number {
  return input[at] === 0xff ? at : input.indexOf(0xff, at);
}

// ---- PNG ----

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_TEXT_CHUNKS = new Set(['tEXt', 'zTXt', 'iTXt']);

/**
 * Walks the chunks: returns the PNG without its text chunks (the input itself when it has none),
 * each kept chunk copied as it is, CRC included. A chunk cut short by the end of the input ends the
 * walk: the rest is kept for the decoder to judge, unless it is a text chunk or a profile.
 */
function withoutPngText(input: Buffer): Buffer {
  const kept: Buffer[] = [];
  let keptFrom = 0;
  let chunks = 0;
  let profiles = 0;
  let at = PNG_SIGNATURE.length;
  while (at < input.length) {
    const type = at + 8 <= input.length ? input.toString('latin1', at + 4, at + 8) : '';
    const length = at + 4 <= input.length ? input.readUInt32BE(at) : 0;
    if (length > 0x7fffffff) throw new InvalidImageError('Source PNG has an invalid chunk length');
    const end = at + 12 + length;
    if (end > input.length) {
      if (PNG_TEXT_CHUNKS.has(type) || type === 'iCCP') {
        kept.push(input.subarray(keptFrom, at));
        keptFrom = input.length;
      }
      break;
    }
    if (++chunks > MAX_PNG_CHUNKS) {
      throw new InvalidImageError(`Source PNG has more than ${MAX_PNG_CHUNKS} chunks`);
    }
    if (PNG_TEXT_CHUNKS.has(type)) {
      kept.push(input.subarray(keptFrom, at));
      keptFrom = end;
    } else if (type === 'iCCP') {
      if (++profiles > 1) throw new InvalidImageError('Source PNG has more than one ICC profile');
      checkIccProfile(input.subarray(at + 8, at + 8 + length));
    }
    at = end;
    if (type === 'IEND') break;
  }
  if (keptFrom === 0) return input;
  kept.push(input.subarray(keptFrom));
  return Buffer.concat(kept);
}

/** An iCCP chunk's data: a keyword, a NUL, compression method 0, then a zlib stream (inflated within its bound). */
function checkIccProfile(data: Buffer): void {
  const nul = data.subarray(0, 80).indexOf(0);
  if (nul < 1 || data[nul + 1] !== 0) throw new InvalidImageError('Source PNG has a corrupt ICC profile');
  try {
    inflateSync(data.subarray(nul + 2), { maxOutputLength: MAX_ICC_PROFILE_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SourceTooLargeError(
        `Source PNG ICC profile inflates to more than ${MAX_ICC_PROFILE_BYTES >> 20} MiB`,
      );
    }
    throw new InvalidImageError('Source PNG has a corrupt ICC profile');
  }
}

// ---- Headers ----

/**
 * What libvips will decode from a JPEG or PNG, read from its header in linear time, without a
 * decoder: the image worker checks it against the limits instead of opening the image a first time
 * with sharp's header-only `metadata()` (see `makeImage`). It says what that `metadata()` would:
 * `channels` are the bands libvips decodes to (a palette expanded, a `tRNS` chunk as alpha),
 * `bytesPerSample` is 2 for a 16-bit PNG.
 */
export interface ImageHeader {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
  channels: number;
  bytesPerSample: 1 | 2;
  hasAlpha: boolean;
}

/**
 * The header of an ordinary JPEG (baseline, extended or progressive, 8-bit, 1, 3 or 4 components) or
 * PNG (a well-formed `IHDR`, a `PLTE` and a `tRNS` where libpng takes them); `undefined` for anything
 * else, which the worker then reads with `metadata()` as before. Call it on the bytes that
 * {@link checkContainer} returned.
 */
export function readImageHeader(input: Buffer): ImageHeader | undefined {
  if (input[0] === 0xff && input[1] === 0xd8) return jpegHeader(input);
  if (startsWith(input, PNG_SIGNATURE)) return pngHeader(input);
  return undefined;
}

/** Segments libjpeg reads or skips before a frame header besides APP0-15: DHT, DAC, DQT, DRI, DNL, COM. */
const JPEG_TABLES_AND_METADATA = new Set([0xc4, 0xcc, 0xdb, 0xdd, 0xdc, 0xfe]);

/**
 * The first frame header, found as libjpeg finds it: markers in order from the SOI, stray bytes and
 * fill bytes skipped, up to the SOF that must come before the first SOS.
 */
function jpegHeader(input: Buffer): ImageHeader | undefined {
  let at = 2;
  for (;;) {
    at = nextFF(input, at);
    if (at < 0 || at + 1 >= input.length) return undefined;
    const marker = input[at + 1];
    if (marker === 0xff || marker === 0x00) {
      at += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    // A second SOI, an EOI or a scan before any frame header: libjpeg's to judge.
    if (marker >= 0xd8 && marker <= 0xda) return undefined;
    if (at + 4 > input.length) return undefined;
    const length = input.readUInt16BE(at + 2);
    if (length < 2 || at + 2 + length > input.length) return undefined;
    if (JPEG_TABLES_AND_METADATA.has(marker) || (marker >= 0xe0 && marker <= 0xef)) {
      at += 2 + length;
      continue;
    }
    // SOF0-SOF2 (Huffman-coded); lossless and arithmetic coding, and markers libjpeg refuses, are
    // left to libjpeg.
    if (marker < 0xc0 || marker > 0xc2 || length < 8) return undefined;
    const precision = input[at + 4];
    const height = input.readUInt16BE(at + 5);
    const width = input.readUInt16BE(at + 7);
    const components = input[at + 9];
    const plain = precision === 8 && width > 0 && height > 0 && [1, 3, 4].includes(components);
    if (!plain || length !== 8 + 3 * components) return undefined;
    // Grey, YCbCr or RGB, CMYK or YCCK: libjpeg decodes to 1, 3 and 4 bands, none of them alpha.
    return { format: 'jpeg', width, height, channels: components, bytesPerSample: 1, hasAlpha: false };
  }
}

/** Bit depths allowed per colour type (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA). */
const PNG_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/** Most pixels per side libvips lets libpng read (`VIPS_MAX_COORD`). */
const PNG_MAX_SIDE = 10_000_000;
/** Chunks before the image data larger than this are left to libpng (it refuses those over 50 MB). */
const PNG_HEADER_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * The `IHDR`, then the chunks up to the first `IDAT`, as libpng's `png_read_info` reads them for
 * libvips: the bands are those of the colour type (a palette expands to RGB), plus alpha for the
 * alpha types or one `tRNS` of the right size. Any chunk libpng would complain about there (an
 * unknown critical one, a misplaced `PLTE` or `tRNS`, a second one) leaves the header to libvips.
 */
function pngHeader(input: Buffer): ImageHeader | undefined {
  let at = PNG_SIGNATURE.length;
  if (
    at + 25 > input.length ||
    input.readUInt32BE(at) !== 13 ||
    input.toString('latin1', at + 4, at + 8) !== 'IHDR'
  ) {
    return undefined;
  }
  const width = input.readUInt32BE(at + 8);
  const height = input.readUInt32BE(at + 12);
  const depth = input[at + 16];
  const colour = input[at + 17];
  const [compression, filter, interlace] = [input[at + 18], input[at + 19], input[at + 20]];
  const sizeOk = width > 0 && height > 0 && width <= PNG_MAX_SIDE && height <= PNG_MAX_SIDE;
  if (!sizeOk || !PNG_DEPTHS[colour]?.includes(depth) || compression !== 0 || filter !== 0 || interlace > 1) {
    return undefined;
  }
  let paletteEntries = 0;
  let transparency = false;
  at += 25;
  for (;;) {
    if (at + 8 > input.length) return undefined;
    const length = input.readUInt32BE(at);
    const type = input.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') break;
    if (length > PNG_HEADER_CHUNK_BYTES || at + 12 + length > input.length) return undefined;
    if (type === 'PLTE') {
      const plain = (colour === 2 || colour === 3 || colour === 6) && !paletteEntries && !transparency;
      if (!plain || length === 0 || length > 768 || length % 3 !== 0) return undefined;
      paletteEntries = length / 3;
    } else if (type === 'tRNS') {
      const size =
        colour === 0 ? length === 2 : colour === 2 ? length === 6 : length > 0 && length <= paletteEntries;
      if (transparency || colour === 4 || colour === 6 || !size) return undefined;
      transparency = true;
    } else if (!/^[a-z][A-Za-z]{3}$/.test(type) || type === 'acTL') {
      // IHDR again, IEND before the data, a critical chunk libpng does not know, a name that is not
      // one; animation frames.
      return undefined;
    }
    at += 12 + length;
  }
  if (colour === 3 && !paletteEntries) return undefined;
  const alpha = colour === 4 || colour === 6 || transparency;
  return {
    format: 'png',
    width,
    height,
    channels: (colour === 0 || colour === 4 ? 1 : 3) + (alpha ? 1 : 0),
    bytesPerSample: depth > 8 ? 2 : 1,
    hasAlpha: alpha,
  };
}

// ---- SVG ----

/** Whether `<svg` appears anywhere, in any case: libvips takes such input for SVG. */
function containsSvgTag(input: Buffer): boolean {
  return /<svg/i.test(input.toString('latin1'));
}

function inflateSvg(input: Buffer): Buffer {
  let svg: Buffer;
  try {
    svg = gunzipSync(input, { maxOutputLength: MAX_SVG_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw svgTooLarge();
    throw new InvalidImageError('Source is not a supported image');
  }
  if (!containsSvgTag(svg)) throw new InvalidImageError('Source is not a supported image');
  return svg;
}

/** Encodings in which markup is plain ASCII, so that what is parsed here is what librsvg parses. */
const ASCII_COMPATIBLE = /^(utf-?8|us-ascii|ascii|iso[-_]?8859-\d{1,2}|latin-?1|windows-125\d|cp125\d)$/i;
/** A reference to a `data:` URL in CSS or a presentation attribute. */
const CSS_DATA_URL = /(url\s*\(|@import)\s*['"]?\s*data:/i;
const DATA_URL = /^\s*data:/i;
const DATA_URL_REFUSED = 'Source SVG references a data: URL (embedded images and documents are not accepted)';

/** 72 dpi, as libvips renders SVG by default: px per unit. */
const UNITS = new Map<string, number>([
  ['', 1],
  ['px', 1],
  ['pt', 1],
  ['pc', 12],
  ['in', 72],
  ['cm', 72 / 2.54],
  ['mm', 72 / 25.4],
  ['em', 12],
  ['ex', 6],
]);

/**
 * Parses the document once with saxes, refusing as it goes what is refused whatever follows, then
 * bounds what its references expand to.
 */
function checkSvg(svg: Buffer, limits: ContainerLimits): void {
  if (svg.length > MAX_SVG_BYTES) throw svgTooLarge();
  const text = svg.toString('utf8');
  // The parser reads a DTD slowly and only then reports it: refuse an internal subset first.
  if (hasInternalSubset(text)) throw dtdRefused();
  const parser = new SaxesParser({ position: false });
  /** Per element, in document order: its children and the ids it references. */
  const children: number[][] = [];
  const references: string[][] = [];
  const ids = new Map<string, number[]>();
  /** The elements open at this point of the document. */
  const open: number[] = [];
  /** The text of the `<style>` element being read, or undefined outside one. */
  let styleText: string | undefined;
  let markup = 0;
  const count = (what: string) => {
    if (++markup > SVG_MARKUP_BUDGET) {
      throw new InvalidImageError(`Source SVG has more than ${SVG_MARKUP_BUDGET} ${what}`);
    }
  };

  parser.on('error', () => {
    throw new InvalidImageError('Source SVG is not well-formed XML');
  });
  parser.on('xmldecl', ({ encoding }) => {
    if (encoding !== undefined && !ASCII_COMPATIBLE.test(encoding)) {
      throw new InvalidImageError(
        'Source SVG encoding is not accepted (UTF-8 or an ASCII-compatible one only)',
      );
    }
  });
  parser.on('doctype', (doctype) => {
    if (opensSubset(doctype, 0)) throw dtdRefused();
  });
  parser.on('comment', () => count('comments'));
  parser.on('processinginstruction', ({ body }) => {
    count('processing instructions');
    if (/data:/i.test(body)) throw new InvalidImageError(DATA_URL_REFUSED);
  });
  parser.on('opentagstart', () => {
    const element = children.length;
    if (element >= SVG_NODE_BUDGET) throw overBudget();
    if (open.length > 0) children[open[open.length - 1]].push(element);
    children.push([]);
    references.push([]);
  });
  parser.on('attribute', ({ name, value }) => {
    count('attributes');
    const element = children.length - 1;
    if (localName(name) === 'href') {
      if (DATA_URL.test(value)) throw new InvalidImageError(DATA_URL_REFUSED);
      const target = value.trim();
      if (target.startsWith('#')) references[element].push(target.slice(1));
    } else if (CSS_DATA_URL.test(value)) {
      throw new InvalidImageError(DATA_URL_REFUSED);
    }
    if (name === 'id' || name === 'xml:id') {
      const same = ids.get(value);
      if (same) same.push(element);
      else ids.set(value, [element]);
    }
  });
  parser.on('opentag', (tag) => {
    const element = children.length - 1;
    if (element === 0) checkDeclaredSize(tag.attributes as Record<string, string>, limits.maxInputPixels);
    open.push(element);
    styleText = localName(tag.name) === 'style' ? '' : undefined;
  });
  const onText = (text: string) => {
    count('text nodes');
    if (styleText !== undefined) styleText += text;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    open.pop();
    if (styleText !== undefined && CSS_DATA_URL.test(styleText))
      throw new InvalidImageError(DATA_URL_REFUSED);
    styleText = undefined;
  });

  parser.write(text).close();
  if (children.length > 0) checkExpansion(children, references, ids);
}

/** A name without its namespace prefix: `xlink:href` is `href`. */
function localName(name: string): string {
  return name.slice(name.lastIndexOf(':') + 1);
}

function dtdRefused(): InvalidImageError {
  return new InvalidImageError('Source SVG has a DTD internal subset (entities are not accepted)');
}

/** Whether the first `<!DOCTYPE` opens an internal subset. */
function hasInternalSubset(text: string): boolean {
  const start = text.indexOf('<!DOCTYPE');
  return start >= 0 && opensSubset(text, start + 9);
}

/** Whether a `[` comes before the `>` that ends a doctype, quoted literals aside. */
function opensSubset(text: string, from: number): boolean {
  let quote = '';
  for (let at = from; at < text.length; at++) {
    const char = text[at];
    if (quote) {
      if (char === quote) quote = '';
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '[') return true;
    else if (char === '>') return false;
  }
  return false;
}

function svgTooLarge(): SourceTooLargeError {
  return new SourceTooLargeError(`Source SVG is larger than ${MAX_SVG_BYTES >> 20} MiB`);
}

function overBudget(): InvalidImageError {
  return new InvalidImageError(`Source SVG expands to more than ${SVG_NODE_BUDGET} elements`);
}

/**
 * Expanded size of the root: each element counts 1, plus its children, plus the largest element it
 * references (memoised, capped just past the budget). An id that several elements carry stands for
 * the largest of them, through a node of its own, so the work stays linear. Iterative, so deep
 * documents cannot exhaust the stack; a reference back to an element being expanded is a cycle.
 */
function checkExpansion(children: number[][], references: string[][], ids: Map<string, number[]>): void {
  const elements = children.length;
  const idNode = new Map<string, number>();
  /** Per node: what it references (elements: id nodes; id nodes: the elements carrying the id). */
  const targets: number[][] = references.map((names) =>
    names.flatMap((name) => {
      if (!ids.has(name)) return [];
      if (!idNode.has(name)) idNode.set(name, elements + idNode.size);
      return [idNode.get(name)!];
    }),
  );
  for (const name of idNode.keys()) targets.push(ids.get(name)!);
  const count = targets.length;
  const size = new Float64Array(count);
  const state = new Uint8Array(count); // 0 new, 1 being expanded, 2 done
  const stack = [0];
  while (stack.length > 0) {
    const node = stack[stack.length - 1];
    if (state[node] === 0) {
      state[node] = 1;
      for (const next of node < elements ? [...children[node], ...targets[node]] : targets[node]) {
        if (state[next] === 1) throw new InvalidImageError('Source SVG references itself');
        if (state[next] === 0) stack.push(next);
      }
      continue;
    }
    stack.pop();
    if (state[node] === 2) continue;
    let total = node < elements ? 1 : 0;
    if (node < elements) for (const child of children[node]) total += size[child];
    let largest = 0;
    for (const target of targets[node]) largest = Math.max(largest, size[target]);
    size[node] = Math.min(total + largest, SVG_NODE_BUDGET + 1);
    state[node] = 2;
  }
  if (size[0] > SVG_NODE_BUDGET) throw overBudget();
}

/** Refuses a root element whose width x height (or viewBox) is over `maxPixels`, when both are plain lengths. */
function checkDeclaredSize(attributes: Record<string, string>, maxPixels: number): void {
  const box = (attributes.viewBox ?? '')
    .trim()
    .split(/[\s,]+/)
    .map(Number);
  const [boxWidth, boxHeight] =
    box.length === 4 && box.every(Number.isFinite) ? [box[2], box[3]] : [NaN, NaN];
  let width = length(attributes.width);
  let height = length(attributes.height);
  if (Number.isNaN(width) && Number.isNaN(height)) [width, height] = [boxWidth, boxHeight];
  else if (Number.isNaN(height)) height = (width * boxHeight) / boxWidth;
  else if (Number.isNaN(width)) width = (height * boxWidth) / boxHeight;
  if (width > 0 && height > 0 && width * height > maxPixels) {
    throw new SourceTooLargeError(
      `Source SVG declares ${Math.round(width)}x${Math.round(height)} pixels, more than the limit of ${maxPixels}`,
    );
  }
}

/** A length in px at 72 dpi, or NaN (absent, a percentage, or not a length). */
function length(value: string | undefined): number {
  const match = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)\s*$/i.exec(value ?? '');
  const unit = match ? UNITS.get(match[2].toLowerCase()) : undefined;
  return match && unit !== undefined ? Number(match[1]) * unit : NaN;
}
