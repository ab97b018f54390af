import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where a child finds the bytes of its source: `length` bytes from the start of the file at `path`. */
export interface SharedInput {
  path: string;
  length: number;
}

/** A file of the set, taken for one task. */
export interface SharedInputSlot {
  readonly input: SharedInput;
  /** Gives the file back once the task's child has finished with it (or has exited). */
  release(): void;
}

/** A file larger than this is emptied when it is given back, so that a large source is not kept. */
const KEEP_AT_MOST_BYTES = 4 * 1024 * 1024;

/**
 * Files in shared memory (`/dev/shm`, a tmpfs) that carry a source's bytes to a child process. The
 * IPC channel copies a Buffer five times on its way (serialise, frame, socket, reassemble,
 * deserialise), in freshly allocated memory each time; a file that is written in place and read by
 * the child into a buffer it keeps costs two copies into memory already mapped. A file is reused by
 * the next task once given back, and emptied first if it is large.
 *
 * The folder is private (mode 0700, made by `mkdtemp`) and removed by {@link close}. Where there is
 * no writable `/dev/shm` (not Linux, a read-only or full one), {@link take} returns `undefined` and
 * the caller sends the bytes over the channel.
 */
export class SharedInputFiles {
  private dir?: string;
  private unavailable = false;
  private readonly free: Array<{ path: string; fd: number; size: number }> = [];
  private made = 0;
  private closed = false;

  /** @param parent the memory-backed folder to make the files in */
  constructor(private readonly parent = '/dev/shm') {}

  /** Writes `bytes` to a free file; `undefined` when that is not possible (the caller sends them itself). */
  take(bytes: Uint8Array): SharedInputSlot | undefined {
    if (this.closed || this.unavailable) return undefined;
    const file = this.free.pop() ?? this.create();
    if (!file) return undefined;
    try {
      let written = 0;
      while (written < bytes.length)
        written += writeSync(file.fd, bytes, written, bytes.length - written, written);
    } catch {
      // Full (a small /dev/shm in a container): this source goes over the channel.
      this.discard(file);
      return undefined;
    }
    file.size = Math.max(file.size, bytes.length);
    let released = false;
    return {
      input: { path: file.path, length: bytes.length },
      release: () => {
        if (released) return;
        released = true;
        this.giveBack(file);
      },
    };
  }

  /** Removes the files and their folder; later calls to {@link take} return `undefined`. */
  close(): void {
    this.closed = true;
    for (const file of this.free.splice(0)) closeQuietly(file.fd);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private create(): { path: string; fd: number; size: number } | undefined {
    try {
      if (!statSync(this.parent).isDirectory()) throw new Error('not a folder');
      this.dir ??= mkdtempSync(join(this.parent, 'nestjs-image-resize-'));
      const path = join(this.dir, `source-${this.made++}`);
      return { path, fd: openSync(path, 'w+', 0o600), size: 0 };
    } catch {
      this.unavailable = true;
      return undefined;
    }
  }

  private giveBack(file: { path: string; fd: number; size: number }): void {
    if (this.closed) return closeQuietly(file.fd);
    if (file.size > KEEP_AT_MOST_BYTES) {
      try {
        ftruncateSync(file.fd, 0);
        file.size = 0;
      } catch {
        return this.discard(file);
      }
    }
    this.free.push(file);
  }

  private discard(file: { path: string; fd: number }): void {
    closeQuietly(file.fd);
    rmSync(file.path, { force: true });
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
}
