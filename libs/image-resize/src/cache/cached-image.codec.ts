import type { CachedImage } from './image-cache.interface';
import type { OutputFormat } from '../spec/resize-spec.interface';

/**
 * Binary layout of a cached image, so that Redis holds the bytes as they are (no JSON, no base64):
 *
 * `"NIR1"` (4 bytes) | header length (uint16 BE) | header (UTF-8 JSON, < 512 bytes) | image bytes
 */
const MAGIC = Buffer.from('NIR1', 'latin1');
const PREFIX_LENGTH = MAGIC.length + 2;

interface Header {
  t: string;
  e: string;
  w: number;
  h: number;
  f: OutputFormat;
  /** Expiry (epoch ms), when the writer knew it. */
  x?: number;
}

/** Encodes an image and its metadata into one Buffer. */
export function encodeCachedImage(image: CachedImage): Buffer {
  const header: Header = {
    t: image.contentType,
    e: image.etag,
    w: image.width,
    h: image.height,
    f: image.format,
    x: image.expiresAt,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.allocUnsafe(PREFIX_LENGTH);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt16BE(json.length, MAGIC.length);
  return Buffer.concat([prefix, json, image.body]);
}

/** Decodes what {@link encodeCachedImage} wrote; `undefined` for anything else (treated as a miss). */
export function decodeCachedImage(data: Buffer | null | undefined): CachedImage | undefined {
  if (!data || data.length < PREFIX_LENGTH || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    return undefined;
  }
  const headerLength = data.readUInt16BE(MAGIC.length);
  const bodyStart = PREFIX_LENGTH + headerLength;
  if (bodyStart > data.length) return undefined;
  let header: Header;
  try {
    header = JSON.parse(data.toString('utf8', PREFIX_LENGTH, bodyStart)) as Header;
  } catch {
    return undefined;
  }
  if (typeof header.t !== 'string' || typeof header.e !== 'string') return undefined;
  return {
    body: data.subarray(bodyStart),
    contentType: header.t,
    etag: header.e,
    width: header.w,
    height: header.h,
    format: header.f,
    expiresAt: header.x,
  };
}
