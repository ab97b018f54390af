import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  ImageNotFoundError,
  ImageResizeError,
  SourceNotAllowedError,
  SourceTooLargeError,
  UpstreamError,
} from '../errors/image-resize.errors';
import type { LoadedSource, SourceValidators } from './image-source.interface';
import type { SourceBytesReservation } from './image-source-loader.interface';
import { readLimited } from './read-limited';

/** Limits of one file read. */
export interface FileReadLimits {
  maxBytes: number;
  /** Aborted at the read's deadline: the read stops with the signal's reason. */
  signal?: AbortSignal;
  reservation?: SourceBytesReservation;
  /**
   * The size and mtime of a copy the caller holds: when the file still has both, it is not read and
   * the load answers `{ notModified: true }` with an empty body.
   */
  validators?: SourceValidators;
}

/** What identifies a file source's version: its absolute path, size and modification time. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * The open flags of a path source: read only, never blocking (a FIFO without a writer opens at once
 * instead of holding a thread of the pool forever), never becoming the controlling terminal.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** Errors that say nothing of the path (the process is out of descriptors, the disk failed). */
const SYSTEM_ERRORS = new Set(['EMFILE', 'ENFILE', 'EIO', 'ENOMEM']);

/** Symbolic links followed when working out where a missing path would lead (as the kernel's limit). */
const MAX_LINKS = 40;

/**
 * Reads `path` sources: regular files only, opened without blocking and checked on the descriptor,
 * confined to `root` when there is one. Every path that is missing, unreadable or not a regular
 * file gets the same {@link ImageNotFoundError} (404, "Image file not found"), so the answer tells
 * nothing of what is there; with a root, a path that leads outside it, by `..` or by a symbolic
 * link, gets {@link SourceNotAllowedError} (403) whether or not it exists.
 */
export class FileImageReader {
  /** @param root absolute folder without symbolic links (`sources.fileRoot`, resolved at boot) */
  constructor(private readonly root?: string) {}

  /** The file's identity, for a cache key; checked exactly as a read is. */
  async identify(path: string): Promise<FileIdentity> {
    const file = await this.open(path);
    await file.handle.close().catch(() => undefined);
    return { path: file.path, size: file.stats.size, mtimeMs: file.stats.mtimeMs };
  }

  /** Reads the whole file, up to `maxBytes`, reserving its size before reading it. */
  async read(path: string, limits: FileReadLimits): Promise<Buffer> {
    return (await this.load(path, limits)).body;
  }

  /**
   * {@link read}, with the file's size and mtime as its validators; given validators that the file
   * still matches, it is not read at all (`notModified`, an empty body).
   */
  async load(path: string, limits: FileReadLimits): Promise<LoadedSource> {
    const { handle, stats } = await this.open(path);
    const validators: SourceValidators = { mtimeMs: stats.mtimeMs, size: stats.size };
    const known = limits.validators;
    if (known?.mtimeMs === stats.mtimeMs && known.size === stats.size) {
      handle.close().catch(() => undefined);
      return { body: Buffer.alloc(0), notModified: true, validators };
    }
    try {
      if (stats.size > limits.maxBytes) {
        throw new SourceTooLargeError(`Source image is larger than ${limits.maxBytes} bytes`);
      }
      limits.reservation?.ensure(stats.size);
      const stream = handle.createReadStream({ autoClose: false });
      const body = await readLimited(stream, limits.maxBytes, {
        reservation: limits.reservation,
        expectedBytes: stats.size,
        signal: limits.signal,
      });
      return { body, validators };
    } catch (error) {
      if (error instanceof ImageResizeError || limits.signal?.aborted) throw error;
      throw readFailure(error);
    } finally {
      // Not awaited: a read stuck in the kernel must not hold the answer.
      handle.close().catch(() => undefined);
    }
  }

  /** Opens `path` if it is allowed and a regular file. */
  private async open(path: string): Promise<{ handle: FileHandle; stats: Stats; path: string }> {
    if (typeof path !== 'string' || path === '' || path.includes('\0')) throw notFound();
    const absolute = resolve(path);
    if (this.root && !isInside(this.root, absolute) && !(await this.leadsInside(absolute))) {
      throw notAllowed();
    }
    let handle: FileHandle;
    try {
      handle = await open(absolute, OPEN_FLAGS);
    } catch (error) {
      if (this.root && !(await this.leadsInside(absolute))) throw notAllowed();
      throw openFailure(error);
    }
    try {
      const stats = await handle.stat();
      if (this.root) await this.checkOpenedInside(absolute, stats);
      if (!stats.isFile()) throw notFound();
      return { handle, stats, path: absolute };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error instanceof ImageResizeError ? error : openFailure(error);
    }
  }

  /** Refuses an opened file whose real path is outside the root, or that is not the file at that path. */
  private async checkOpenedInside(absolute: string, opened: Stats): Promise<void> {
    let real: string;
    let atReal: Stats;
    try {
      real = await realpath(absolute);
      atReal = await stat(real);
    } catch {
      throw notAllowed(); // replaced while it was being opened
    }
    if (!isInside(this.root as string, real)) throw notAllowed();
    if (atReal.dev !== opened.dev || atReal.ino !== opened.ino) throw notAllowed();
  }

  /** Whether `absolute`, once its symbolic links are followed (even to a missing file), is in the root. */
  private async leadsInside(absolute: string): Promise<boolean> {
    return isInside(this.root as string, await wouldResolveTo(absolute, 0));
  }
}

/**
 * Where `path` leads: its real path if it exists; otherwise the real path of its nearest existing
 * folder joined with the rest, following a dangling link's target, so that a missing path behind a
 * link that leaves the root is seen to leave it.
 */
async function wouldResolveTo(path: string, links: number): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // Missing, a loop or not a folder: resolve what is above it.
  }
  const parent = dirname(path);
  if (parent === path) return path;
  const here = join(await wouldResolveTo(parent, links), basename(path));
  if (links < MAX_LINKS) {
    try {
      return await wouldResolveTo(resolve(dirname(here), await readlink(here)), links + 1);
    } catch {
      // Not a link.
    }
  }
  return here;
}

/** Whether `path` is `root` or below it (both absolute and normalised). */
function isInside(root: string, path: string): boolean {
  const rest = relative(root, path);
  return rest === '' || (rest !== '..' && !rest.startsWith(`..${sep}`) && !isAbsolute(rest));
}

const notFound = (cause?: unknown) => new ImageNotFoundError('Image file not found', { cause });
const notAllowed = () => new SourceNotAllowedError('Image file not allowed');

/** An error of open(): the one answer of a path that cannot be read, unless the system itself failed. */
function openFailure(error: unknown): ImageResizeError {
  return SYSTEM_ERRORS.has((error as NodeJS.ErrnoException)?.code ?? '')
    ? readFailure(error)
    : notFound(error);
}

function readFailure(error: unknown): ImageResizeError {
  return new UpstreamError('Image file could not be read', { cause: error });
}
