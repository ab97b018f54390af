import { Readable } from 'node:stream';
import { hashedCacheKey } from '../spec/variant.keys';
import type { FileImageReader } from './file-image.reader';
import type { ImageSource, ImageSourceDescriptor } from './image-source.interface';

/** Normalises the four shapes of {@link ImageSource} into a descriptor. */
export function toDescriptor(source: ImageSource): ImageSourceDescriptor {
  if (typeof source === 'string') return { url: source };
  if (Buffer.isBuffer(source)) return { buffer: source };
  if (source instanceof Readable) return { stream: source };
  if (typeof source === 'object' && source !== null) {
    const given =
      Number(source.url !== undefined) +
      Number(source.buffer !== undefined) +
      Number(source.stream !== undefined) +
      Number(source.path !== undefined);
    if (given === 1) return source;
  }
  throw new TypeError(
    'An image source must be a URL string, a Buffer, a Readable, or an object with exactly one of url, buffer, stream, path',
  );
}

/** The cacheKey the caller gave with the source itself, if any. */
export function givenCacheKey(source: ImageSource | undefined): string | undefined {
  return typeof source === 'object' && source && 'cacheKey' in source ? source.cacheKey : undefined;
}

/**
 * How a log line names a source that has no cacheKey: a URL by the key derived from it (never the
 * URL itself, which may hold credentials or a signature), anything else by its kind.
 */
export function unnamedSource(source: ImageSource | undefined): string {
  if (source === undefined || source === null) return '(before its source was known)';
  let descriptor: ImageSourceDescriptor;
  try {
    descriptor = toDescriptor(source);
  } catch {
    return '(an invalid source)';
  }
  if (descriptor.url !== undefined) {
    return `${hashedCacheKey('url', normalisedUrl(descriptor.url))} (derived from its URL)`;
  }
  if (descriptor.buffer !== undefined) return '(a Buffer source)';
  return descriptor.path !== undefined ? '(a file source)' : '(a stream source)';
}

/**
 * A cacheKey for a source that has none: the URL, the file's identity, or the bytes, hashed. A file
 * is checked as it is read (`sources.fileRoot`, regular files only), so no answer tells more. A
 * stream has no key before it is read: the caller hashes its bytes.
 */
export async function derivedCacheKey(
  source: ImageSourceDescriptor,
  files: FileImageReader,
): Promise<string> {
  if (source.url !== undefined) return hashedCacheKey('url', normalisedUrl(source.url));
  if (source.buffer !== undefined) return hashedCacheKey('buf', source.buffer);
  const file = await files.identify(source.path as string);
  return hashedCacheKey('file', file.path, String(file.mtimeMs), String(file.size));
}

/** The WHATWG form of a URL (`HTTP://Example.COM:80/a` and `http://example.com/a` are one); the whole of it, query included. */
function normalisedUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url; // refused when it is fetched
  }
}
