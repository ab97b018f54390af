import { crc32, gzipSync } from 'node:zlib';
import sharp, { type Metadata } from 'sharp';
import {
  blackPng,
  iccpChunk,
  jpegWithRepeatedScans,
  ordinarySvg,
  pngChunk,
  pngWithIccpBomb,
  pngWithSrgbProfile,
  pngWithTextBomb,
  progressiveJpeg,
  smallPng,
  svgEmbeddingRaster,
  svgEntityBomb,
  svgUseBomb,
  textChunk,
  withChunks,
} from '../../../../test/support/bombs/containers';
import { pngClaiming } from '../../../../test/support/hostile-fixtures';
import { ImageResizeError, InvalidImageError, SourceTooLargeError } from '../errors/image-resize.errors';
import {
  checkContainer,
  type ContainerLimits,
  type ImageHeader,
  MAX_SVG_BYTES,
  readImageHeader,
  SVG_MARKUP_BUDGET,
  SVG_NODE_BUDGET,
} from './image-container.checks';

const LIMITS: ContainerLimits = { maxJpegScans: 100, allowSvg: false, maxInputPixels: 40_000_000 };
const SVG_ON: ContainerLimits = { ...LIMITS, allowSvg: true };

/** The error `checkContainer` throws for `input`, or undefined when it accepts it. */
function refusal(input: Buffer, limits = LIMITS): unknown {
  try {
    checkContainer(input, limits);
    return undefined;
  } catch (error) {
    return error;
  }
}

function expect422(input: Buffer, limits: ContainerLimits, reason: RegExp, type = InvalidImageError): void {
  const error = refusal(input, limits);
  expect(error).toBeInstanceOf(type);
  expect((error as ImageResizeError).getStatus()).toBe(422);
  expect((error as Error).message).toMatch(reason);
}

/** The chunks of a PNG, in order, each with whether its CRC is right. */
function chunksOf(png: Buffer): Array<{ type: string; length: number; crcOk: boolean }> {
  const chunks = [];
  for (let at = 8; at + 12 <= png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const crcOk = crc32(png.subarray(at + 4, at + 8 + length)) === png.readUInt32BE(at + 8 + length);
    chunks.push({ type, length, crcOk });
    at += 12 + length;
  }
  return chunks;
}

async function rawPixels(image: Buffer): Promise<Buffer> {
  return sharp(image).raw().toBuffer();
}

/** Every prefix of `input` (every `step` bytes) and a few deterministic corruptions of it. */
function damaged(input: Buffer, step: number): Buffer[] {
  const out: Buffer[] = [];
  for (let length = 0; length < input.length; length += step) out.push(input.subarray(0, length));
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 40; i++) {
    const copy = Buffer.from(input);
    for (let j = 0; j < 8; j++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
    out.push(copy);
  }
  return out;
}

/** Nothing but a 422 or an accepted buffer, whatever the bytes. */
function expectOnly422OrAccepted(inputs: Buffer[], limits: ContainerLimits): void {
  for (const input of inputs) {
    const error = refusal(input, limits);
    if (error !== undefined) {
      expect(error).toBeInstanceOf(InvalidImageError);
      expect((error as ImageResizeError).getStatus()).toBe(422);
    }
  }
}

/** A JPEG's markers only: SOI, `segments`, EOI. */
function markers(...segments: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8]), ...segments, Buffer.from([0xff, 0xd9])]);
}
const segment = (marker: number, payload: Buffer) =>
  Buffer.concat([
    Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]),
    payload,
  ]);
/** An SOS header for one component followed by entropy-coded bytes. */
const scan = (data: number[]) =>
  Buffer.concat([segment(0xda, Buffer.from([1, 1, 0x00, 1, 63, 0])), Buffer.from(data)]);

describe('checkContainer: JPEG', () => {
  it('passes ordinary JPEGs unchanged: baseline, progressive and mozjpeg progressive', async () => {
    const image = sharp({ create: { width: 300, height: 200, channels: 3, background: '#dc2626' } });
    for (const jpeg of [
      await image.clone().jpeg().toBuffer(),
      await image.clone().jpeg({ progressive: true }).toBuffer(),
      await progressiveJpeg(300),
    ]) {
      expect(checkContainer(jpeg, LIMITS)).toBe(jpeg);
    }
  });

  it('refuses a legal JPEG whose scans repeat past maxJpegScans, which sharp decodes (slowly)', async () => {
    const bomb = await jpegWithRepeatedScans({ size: 256, repeats: 150 });
    // still a JPEG that libvips reads, without a warning
    const { info } = await sharp(bomb, { failOn: 'warning' })
      .resize(16)
      .toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(16);
    expect422(bomb, LIMITS, /more than 100 scans/);
  });

  it('counts scans up to maxJpegScans inclusive', () => {
    const data = [0x12, 0x34];
    expect(
      checkContainer(markers(...Array.from({ length: 5 }, () => scan(data))), { ...LIMITS, maxJpegScans: 5 }),
    );
    expect422(
      markers(...Array.from({ length: 6 }, () => scan(data))),
      { ...LIMITS, maxJpegScans: 5 },
      /scans/,
    );
  });

  it('reads restart markers and stuffed bytes as scan data, and segment payloads as payload', () => {
    // 0xFF00 and RSTn inside a scan are data; FF DA inside an APP1 payload is no scan.
    const data = [0x12, 0xff, 0x00, 0x34, 0xff, 0xd3, 0x56, 0xff, 0xff, 0xd7, 0x00];
    const app1 = segment(0xe1, Buffer.from(Array.from({ length: 300 }, (_, i) => (i % 2 ? 0xda : 0xff))));
    const input = markers(app1, scan(data), scan(data));
    expect(checkContainer(input, { ...LIMITS, maxJpegScans: 2 })).toBe(input);
    expect422(input, { ...LIMITS, maxJpegScans: 1 }, /scans/);
  });

  it('never loops or throws anything but a 422 on truncated or corrupt JPEGs', async () => {
    const jpeg = await jpegWithRepeatedScans({ size: 64, repeats: 20 });
    expectOnly422OrAccepted(damaged(jpeg, 3), { ...LIMITS, maxJpegScans: 10 });
    expectOnly422OrAccepted(
      [
        Buffer.from([0xff, 0xd8, 0xff]),
        Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00]),
        markers(segment(0xe0, Buffer.alloc(0))),
      ],
      LIMITS,
    );
    // A segment length below 2 is refused (libjpeg refuses it too).
    expect422(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01, 0xff, 0xd9]), LIMITS, /JPEG/);
  });
});

describe('checkContainer: PNG', () => {
  it('passes PNGs without text chunks unchanged, an sRGB ICC profile included', async () => {
    for (const png of [await smallPng(32), await pngWithSrgbProfile()]) {
      expect(checkContainer(png, LIMITS)).toBe(png);
    }
    expect(chunksOf(await pngWithSrgbProfile()).map((c) => c.type)).toContain('iCCP');
  });

  it('strips a small tEXt chunk and keeps everything else, CRCs valid', async () => {
    const plain = await pngWithSrgbProfile();
    const png = withChunks(plain, [textChunk('tEXt', 'Title', 0, 'A logo')]);
    const out = checkContainer(png, LIMITS);
    expect(chunksOf(out).map((c) => c.type)).toEqual(chunksOf(plain).map((c) => c.type));
    expect(out.equals(plain)).toBe(true);
    expect(await rawPixels(out)).toEqual(await rawPixels(png));
  });

  it.each(['zTXt', 'iTXt'] as const)(
    'strips 100 %s chunks that each inflate to 7.9 MB, leaving a valid 1x1 PNG',
    async (type) => {
      const bomb = await pngWithTextBomb({ type });
      expect(bomb.length).toBeLessThan(800_000);
      const out = checkContainer(bomb, LIMITS);
      expect(out.length).toBeLessThan(1000);
      const chunks = chunksOf(out);
      expect(out.equals(await smallPng())).toBe(true);
      expect(chunks.map((c) => c.type)).not.toContain(type);
      expect(chunks.every((c) => c.crcOk)).toBe(true);
      expect((await sharp(out).metadata()).width).toBe(1);
    },
  );

  it('refuses an ICC profile that inflates past its bound, a second profile, and a corrupt one', async () => {
    expect422(await pngWithIccpBomb(), LIMITS, /ICC profile/, SourceTooLargeError);
    const srgb = await pngWithSrgbProfile();
    const profile = (await sharp(srgb).metadata()).icc as Buffer;
    expect(profile.length).toBeGreaterThan(100);
    expect422(withChunks(srgb, [iccpChunk(profile)]), LIMITS, /ICC profile/);
    const corrupt = pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0'), Buffer.from('not zlib at all')]));
    expect422(withChunks(await smallPng(), [corrupt]), LIMITS, /ICC profile/);
  });

  it('refuses more chunks than a PNG needs', async () => {
    const filler = pngChunk('prVt', Buffer.alloc(0));
    const many = withChunks(
      await smallPng(),
      Array.from({ length: 100_001 }, () => filler),
    );
    expect422(many, LIMITS, /chunks/);
  });

  it('never loops or throws anything but a 422 on truncated or corrupt PNGs', async () => {
    const png = withChunks(await smallPng(8), [
      textChunk('zTXt', 'Comment', 1000),
      iccpChunk(Buffer.alloc(3000)),
    ]);
    expectOnly422OrAccepted(damaged(png, 1), LIMITS);
    const lying = Buffer.from(png);
    lying.writeUInt32BE(0xfffffff0, 33); // the first inserted chunk claims 4 GB
    expectOnly422OrAccepted([lying], LIMITS);
  });

  it('keeps a truncated tail for the decoder to judge, minus a truncated text chunk', async () => {
    const png = await smallPng(8);
    const noEnd = png.subarray(0, png.length - 12);
    expect(checkContainer(noEnd, LIMITS)).toBe(noEnd);
    const cut = Buffer.concat([png.subarray(0, png.length - 12), textChunk('zTXt', 'Comment', 100_000)]);
    const out = checkContainer(cut.subarray(0, cut.length - 20), LIMITS);
    expect(out.equals(png.subarray(0, png.length - 12))).toBe(true);
  });
});

describe('checkContainer: SVG', () => {
  it('refuses SVG, compressed or not, when allowSvg is off', () => {
    expect422(ordinarySvg(), LIMITS, /SVG sources are not accepted/);
    expect422(gzipSync(ordinarySvg()), LIMITS, /not accepted/);
  });

  it('passes an ordinary SVG with a few <use> unchanged, and it renders', async () => {
    const svg = ordinarySvg();
    expect(checkContainer(svg, SVG_ON)).toBe(svg);
    expect((await sharp(svg).png().toBuffer()).length).toBeGreaterThan(0);
    const doctype = Buffer.from(
      `<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" ` +
        `"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n${svg.toString().replace(/^<\?xml[^>]*>\n/, '')}`,
    );
    expect(checkContainer(doctype, SVG_ON)).toBe(doctype);
  });

  it('inflates a compressed SVG (bounded) and returns the plain document it checked', async () => {
    const out = checkContainer(gzipSync(ordinarySvg()), SVG_ON);
    expect(out.equals(ordinarySvg())).toBe(true);
    expect422(gzipSync(svgUseBomb()), SVG_ON, /expands/);
    const inflating = gzipSync(Buffer.concat([ordinarySvg(), Buffer.alloc(MAX_SVG_BYTES, 0x20)]));
    expect422(inflating, SVG_ON, /larger than/, SourceTooLargeError);
  });

  it('refuses entity declarations (the billion laughs), and any internal DTD subset', () => {
    expect422(svgEntityBomb(), SVG_ON, /entit/);
    const subset = (inside: string) =>
      Buffer.from(`<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd" [${inside}]><svg/>`);
    expect422(subset('<!-- nothing declared -->'), SVG_ON, /DTD/);
    expect422(subset('<!ATTLIST svg a CDATA "x">'), SVG_ON, /DTD/);
    // a [ or > inside a quoted literal is no subset
    const quoted = Buffer.from(`<!DOCTYPE svg SYSTEM "a[b>c.dtd"><svg/>`);
    expect(checkContainer(quoted, SVG_ON)).toBe(quoted);
  });

  it('refuses embedded data: resources, a 100 MP raster first of all', async () => {
    const bomb = await svgEmbeddingRaster(100);
    expect(bomb.length).toBeLessThan(140_000);
    const png = Buffer.from(/base64,([^"]+)/.exec(bomb.toString())![1], 'base64');
    expect(await sharp(png, { limitInputPixels: false }).metadata()).toMatchObject({
      width: 10_000,
      height: 10_000,
    });
    expect422(bomb, SVG_ON, /data: URL/);
    const tiny = `data:image/png;base64,${(await blackPng(1, 1)).toString('base64')}`;
    for (const svg of [
      `<svg xmlns="http://www.w3.org/2000/svg"><image xlink:href="${tiny}" xmlns:xlink="http://www.w3.org/1999/xlink"/></svg>`,
      `<svg xmlns="http://www.w3.org/2000/svg"><filter id="f"><feImage href=" DATA:${tiny.slice(5)}"/></filter></svg>`,
      `<svg xmlns="http://www.w3.org/2000/svg"><use href="data:image/svg+xml,%3Csvg%3E#a"/></svg>`,
      `<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url( '${tiny}' )"/></svg>`,
      `<svg xmlns="http://www.w3.org/2000/svg"><style>rect { fill: url(${tiny}) }</style></svg>`,
      `<?xml-stylesheet href="data:text/css,rect{}"?><svg xmlns="http://www.w3.org/2000/svg"/>`,
    ]) {
      expect422(Buffer.from(svg), SVG_ON, /data: URL/);
    }
  });

  it(`refuses an exponential <use> tree, and counts elements and expansions up to ${SVG_NODE_BUDGET}`, () => {
    expect422(svgUseBomb(), SVG_ON, /expands to more than/);
    const rects = (count: number) =>
      Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg">${'<rect/>'.repeat(count)}</svg>`);
    expect(checkContainer(rects(SVG_NODE_BUDGET - 1), SVG_ON)).toBeInstanceOf(Buffer);
    expect422(rects(SVG_NODE_BUDGET), SVG_ON, /expands to more than/);
    // 1 root + 1 group of 99 rects + 100 uses of it (each 1 + 100) = 10,201
    const group = `<g id="g">${'<rect/>'.repeat(99)}</g>`;
    const fanned = (uses: number) =>
      Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg">${group}${'<use href="#g"/>'.repeat(uses)}</svg>`);
    expect(checkContainer(fanned(98), SVG_ON)).toBeInstanceOf(Buffer);
    expect422(fanned(100), SVG_ON, /expands to more than/);
    // an id carried twice stands for the larger element
    const twice = (uses: number) =>
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg"><g id="g"/>${group}${'<use href="#g"/>'.repeat(uses)}</svg>`,
      );
    expect(checkContainer(twice(98), SVG_ON)).toBeInstanceOf(Buffer);
    expect422(twice(100), SVG_ON, /expands to more than/);
  });

  it(`refuses more than ${SVG_MARKUP_BUDGET} attributes, text nodes, comments and PIs in all`, () => {
    const attributes = (count: number) => Array.from({ length: count }, (_, i) => `data-a${i}="1"`).join(' ');
    // the root's xmlns, 9090 x 22, then `last` more
    const doc = (last: number) =>
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg">${`<rect ${attributes(22)}/>`.repeat(9090)}` +
          `<rect ${attributes(last)}/></svg>`,
      );
    expect(checkContainer(doc(19), SVG_ON)).toBeInstanceOf(Buffer);
    expect422(doc(20), SVG_ON, /more than 200000 attributes/);
    const one = Buffer.from(`<svg><rect ${attributes(SVG_MARKUP_BUDGET + 1)}/></svg>`);
    expect422(one, SVG_ON, /attributes/);
    const comments = (count: number) => Buffer.from(`<svg>${'<!---->'.repeat(count)}</svg>`);
    expect(checkContainer(comments(SVG_MARKUP_BUDGET), SVG_ON)).toBeInstanceOf(Buffer);
    expect422(comments(SVG_MARKUP_BUDGET + 1), SVG_ON, /comments/);
    const mixed = Buffer.from(`<svg>${'<?a?><![CDATA[x]]><g/>text'.repeat(SVG_MARKUP_BUDGET / 3 + 1)}</svg>`);
    expect422(mixed, SVG_ON, /more than/);
  });

  it(`refuses an SVG larger than ${MAX_SVG_BYTES >> 20} MiB`, () => {
    const svg = (bytes: number) => {
      const head = '<svg xmlns="http://www.w3.org/2000/svg"><text>';
      const tail = '</text></svg>';
      return Buffer.from(head + 'x'.repeat(bytes - head.length - tail.length) + tail);
    };
    expect(checkContainer(svg(MAX_SVG_BYTES), SVG_ON)).toBeInstanceOf(Buffer);
    expect422(svg(MAX_SVG_BYTES + 1), SVG_ON, /larger than/, SourceTooLargeError);
  });

  it('refuses <use> cycles', () => {
    for (const body of [
      `<g id="a"><use href="#a"/></g>`,
      `<g id="a"><use href="#b"/></g><g id="b"><use xlink:href="#a"/></g>`,
      `<use href="#self" id="self"/>`,
    ]) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">${body}</svg>`;
      expect422(Buffer.from(svg), SVG_ON, /references itself/);
    }
  });

  it('refuses an SVG whose declared size exceeds maxInputPixels', () => {
    const sized = (attributes: string) =>
      Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" ${attributes}><rect/></svg>`);
    expect422(sized('width="100000" height="100000"'), SVG_ON, /pixels/, SourceTooLargeError);
    expect422(sized('width="1000in" height="1000in"'), SVG_ON, /pixels/, SourceTooLargeError);
    expect422(sized('viewBox="0 0 100000 100000"'), SVG_ON, /pixels/, SourceTooLargeError);
    expect(checkContainer(sized('width="6000px" height="6000px"'), SVG_ON)).toBeInstanceOf(Buffer);
    expect(checkContainer(sized('width="100%" height="100%" viewBox="0 0 10 10"'), SVG_ON)).toBeInstanceOf(
      Buffer,
    );
  });

  it('refuses SVG that is not well-formed, or in an encoding other than UTF-8 or a superset of ASCII', () => {
    expect422(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><g></svg>'), SVG_ON, /well-formed/);
    expect422(
      Buffer.from('<?xml version="1.0" encoding="UTF-7"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
      SVG_ON,
      /encoding/,
    );
    const latin1 = Buffer.from(
      '<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    );
    expect(checkContainer(latin1, SVG_ON)).toBe(latin1);
  });

  it('never throws anything but a 422 on damaged SVG', () => {
    expectOnly422OrAccepted(damaged(svgUseBomb({ depth: 3, fanout: 3 }), 5), SVG_ON);
  });
});

describe('checkContainer: other inputs', () => {
  it('passes other formats and unknown bytes through untouched', async () => {
    const image = sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } });
    for (const input of [
      await image.clone().webp().toBuffer(),
      await image.clone().gif().toBuffer(),
      await image.clone().tiff().toBuffer(),
      Buffer.from('<!doctype html><html><body>hello</body></html>'),
      Buffer.alloc(0),
    ]) {
      expect(checkContainer(input, LIMITS)).toBe(input);
    }
  });
});

/** What makeImage takes from sharp's `metadata()` when it reads the header itself. */
function asHeader(metadata: Metadata): ImageHeader {
  const deep = ['ushort', 'short'].includes(metadata.depth) || (metadata.bitsPerSample ?? 8) > 8;
  return {
    format: metadata.format as ImageHeader['format'],
    width: metadata.width,
    height: metadata.height,
    channels: metadata.channels,
    bytesPerSample: deep ? 2 : 1,
    hasAlpha: metadata.hasAlpha,
  };
}

/** Ordinary JPEGs and PNGs of every colour type, depth and transparency sharp writes, and a few by hand. */
async function ordinaryImages(): Promise<Record<string, Buffer>> {
  const rgb = sharp({ create: { width: 301, height: 199, channels: 3, background: '#dc2626' } });
  const rgba = sharp({
    create: { width: 64, height: 40, channels: 4, background: { r: 9, g: 9, b: 9, alpha: 0.5 } },
  });
  const grey = await rgb.clone().toColourspace('b-w').png().toBuffer();
  const opaque = await rgb.clone().png().toBuffer();
  const trns = (png: Buffer, data: number[]) => withChunks(png, [pngChunk('tRNS', Buffer.from(data))]);
  return {
    'JPEG baseline': await rgb.clone().jpeg().toBuffer(),
    'JPEG progressive': await rgb.clone().jpeg({ progressive: true, mozjpeg: true }).toBuffer(),
    'JPEG grey': await rgb.clone().toColourspace('b-w').jpeg().toBuffer(),
    'JPEG CMYK': await rgb.clone().toColourspace('cmyk').jpeg().toBuffer(),
    'JPEG with EXIF orientation': await rgb.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    'JPEG of 300 scans': await progressiveJpeg(300),
    'PNG RGB': opaque,
    'PNG RGBA': await rgba.clone().png().toBuffer(),
    'PNG grey': grey,
    'PNG grey + alpha': await rgba.clone().toColourspace('b-w').png().toBuffer(),
    'PNG 16-bit RGB': await rgb.clone().toColourspace('rgb16').png().toBuffer(),
    'PNG 16-bit RGBA': await rgba.clone().toColourspace('rgb16').png().toBuffer(),
    'PNG palette': await rgb.clone().png({ palette: true }).toBuffer(),
    'PNG palette with tRNS': await rgba.clone().png({ palette: true }).toBuffer(),
    'PNG 1-bit palette': await rgb.clone().png({ palette: true, colours: 2 }).toBuffer(),
    'PNG interlaced': await rgba.clone().png({ progressive: true }).toBuffer(),
    'PNG grey with tRNS': trns(grey, [0, 0]),
    'PNG RGB with tRNS': trns(opaque, [0, 0, 0, 0, 0, 0]),
    'PNG with text and a profile': await pngWithSrgbProfile(),
  };
}

describe('readImageHeader', () => {
  it("says of ordinary JPEGs and PNGs what sharp's metadata() says", async () => {
    for (const [name, image] of Object.entries(await ordinaryImages())) {
      expect([name, readImageHeader(image)]).toEqual([name, asHeader(await sharp(image).metadata())]);
    }
  });

  it('leaves other formats, and JPEGs and PNGs out of the ordinary, to metadata()', async () => {
    const image = sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } });
    const jpeg = await image.clone().jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const withSof = (marker: number, precision = 8) => {
      const copy = Buffer.from(jpeg);
      copy[sof + 1] = marker;
      copy[sof + 4] = precision;
      return copy;
    };
    const rgba = await sharp({ create: { width: 8, height: 8, channels: 4, background: '#0008' } })
      .png()
      .toBuffer();
    const palette = await image.clone().png({ palette: true }).toBuffer();
    const plte = palette.indexOf('PLTE') - 4;
    const tRNS = pngChunk('tRNS', Buffer.from([0]));
    for (const input of [
      await image.clone().webp().toBuffer(),
      await image.clone().gif().toBuffer(),
      await image.clone().tiff().toBuffer(),
      await image.clone().avif().toBuffer(),
      ordinarySvg(),
      Buffer.from('<!doctype html><html><body>hello</body></html>'),
      Buffer.alloc(0),
      withSof(0xc3), // lossless
      withSof(0xc9), // arithmetic coding
      withSof(0xc0, 12),
      markers(scan([1, 2, 3])), // a scan before any frame header
      Buffer.concat([jpeg.subarray(0, 2), segment(0xf0, Buffer.alloc(4)), jpeg.subarray(2)]), // JPG0
      jpeg.subarray(0, sof + 6), // cut inside the frame header
      withChunks(rgba, [pngChunk('tRNS', Buffer.from([0, 0]))]), // tRNS with an alpha channel
      withChunks(palette, [tRNS]), // tRNS before the palette
      Buffer.concat([palette.subarray(0, plte), tRNS, tRNS, palette.subarray(plte)]),
      withChunks(rgba, [pngChunk('acTL', Buffer.alloc(8))]),
      withChunks(rgba, [pngChunk('XYZW', Buffer.alloc(4))]), // an unknown critical chunk
      withChunks(rgba, [pngChunk('IHDR', rgba.subarray(16, 29))]),
      await pngClaiming(20_000_000, 1),
      rgba.subarray(0, 40), // no image data
    ]) {
      expect(readImageHeader(input)).toBeUndefined();
    }
  });

  it('reads of damaged JPEGs and PNGs what metadata() reads, whenever both read a header', async () => {
    let agreed = 0;
    const images = await ordinaryImages();
    for (const name of ['JPEG baseline', 'JPEG CMYK', 'PNG palette with tRNS', 'PNG grey with tRNS']) {
      for (const input of damaged(images[name], 7)) {
        const header = readImageHeader(input);
        const metadata = await Promise.resolve()
          .then(() => sharp(input).metadata())
          .catch(() => undefined);
        if (header && metadata) {
          expect(header).toEqual(asHeader(metadata));
          agreed += 1;
        }
      }
    }
    expect(agreed).toBeGreaterThan(100);
  });
});
