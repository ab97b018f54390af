import { readFile } from 'node:fs/promises';
import {
  ImageNotFoundError,
  ImageResizeConfigError,
  SourceTooLargeError,
} from '../errors/image-resize.errors';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { ImageSourceDescriptor, LoadedSource } from '../sources/image-source.interface';
import type { ImageSourceLoader, SourceLoadContext } from '../sources/image-source-loader.interface';
import { SourceAddressPolicy } from '../sources/source-address.policy';
import type { ImageFixture } from './image-resize-testing.options';

/** Finds the fixture of a parsed URL, or `undefined`. */
export type FixtureLookup = (url: URL) => ImageFixture | undefined;

/** Where a loaded original came from, as the recorder reports it. */
export interface LoadedFrom {
  source: string;
  cacheKey: string | undefined;
}

/**
 * The testing module's {@link ImageSourceLoader}: URL sources from fixtures, never the network;
 * every other source through `fallback` (the default loader). Remembers which source each loaded
 * body came from, for the recorder.
 */
export class FixtureImageSourceLoader implements ImageSourceLoader {
  private readonly origins = new WeakMap<Buffer, LoadedFrom>();
  private readonly policy: SourceAddressPolicy;

  constructor(
    private readonly lookup: FixtureLookup,
    private readonly options: ResolvedImageResizeOptions,
    private readonly fallback: ImageSourceLoader,
  ) {
    this.policy = new SourceAddressPolicy(options.sources);
  }

  async load(source: ImageSourceDescriptor, context?: SourceLoadContext): Promise<LoadedSource> {
    const loaded =
      source.url !== undefined
        ? await this.fromFixture(source.url)
        : await this.fallback.load(source, context);
    // A view of its own (no copy): the same Buffer may be loaded for several sources.
    const body = Buffer.from(loaded.body.buffer, loaded.body.byteOffset, loaded.body.length);
    this.origins.set(body, { source: source.url ?? kindOf(source), cacheKey: source.cacheKey });
    return { ...loaded, body };
  }

  /** The source that `body` was loaded from, if this loader loaded it. */
  loadedFrom(body: Buffer): LoadedFrom | undefined {
    return this.origins.get(body);
  }

  private async fromFixture(url: string): Promise<LoadedSource> {
    const parsed = this.policy.parseUrl(url);
    const fixture = this.lookup(parsed);
    if (fixture === undefined) throw new ImageNotFoundError('Image source not found');
    const body = typeof fixture === 'string' ? await readFixture(fixture, parsed.href) : fixture;
    if (body.length > this.options.maxSourceBytes) {
      throw new SourceTooLargeError(`Source image is larger than ${this.options.maxSourceBytes} bytes`);
    }
    return { body };
  }
}

function kindOf(source: ImageSourceDescriptor): string {
  if (source.buffer !== undefined) return 'buffer';
  return source.stream !== undefined ? 'stream' : 'path';
}

/** A fixture file that cannot be read is a mistake in the test, not a 404 of the origin. */
async function readFixture(path: string, url: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ImageResizeConfigError(
      `the fixture file of ${url} cannot be read: ${(error as Error).message}`,
    );
  }
}
