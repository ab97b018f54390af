import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';

/**
 * Hostile sources (not images): sources that never end, paths that would block, origins that hold
 * big bodies back. Shared by the e2e tests of the source limits and of the service under attack.
 */

/**
 * A stream that never ends: it sends `chunk` bytes every `everyMs` (or nothing at all with
 * `chunk: 0`), for as long as nobody destroys it.
 */
export function neverEndingStream({ chunk = 16, everyMs = 50 } = {}): Readable {
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() {
      if (timer || chunk === 0) return;
      timer = setInterval(() => this.push(Buffer.alloc(chunk, 0x89)), everyMs);
    },
    destroy(error, callback) {
      clearInterval(timer);
      callback(error);
    },
  });
}

/** A FIFO (named pipe) that nobody writes to: opening it for reading blocks a thread forever. */
export interface Fifo {
  path: string;
  /** Opens it for writing and closes it at once, so that a reader blocked in `open()` gets an empty file. */
  unblock(): void;
}

/** Makes a FIFO named `name` in `dir` with `mkfifo`. */
export function makeFifo(dir: string, name = 'pipe.png'): Fifo {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return {
    path,
    unblock() {
      try {
        closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: no reader is waiting, nothing to unblock.
      }
    },
  };
}

/** A PNG of random pixels, stored uncompressed, of about (a little under) `bytes` bytes. */
export function noisePng(bytes: number): Promise<Buffer> {
  const side = Math.floor(Math.sqrt((bytes - 4096) / 3));
  const pixels = Buffer.alloc(side * side * 3);
  let seed = 12345;
  for (let i = 0; i < pixels.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    pixels[i] = seed >>> 24;
  }
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

/**
 * An origin route that answers at once with the headers of `body` (its `Content-Length` included,
 * unless `chunked`), then holds the body back until {@link SlowBigOrigin.release}, and then sends it
 * in `chunkBytes` pieces every `everyMs`. It counts the body bytes written on every path.
 */
export interface SlowBigOrigin {
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Requests received. */
  requests(): number;
  /** Body bytes written on every request so far. */
  bodyBytesWritten(): number;
  /** Requests whose body was sent in full. */
  completed(): number;
  /** Lets every held body (and every later one) flow. */
  release(): void;
  /** Ends every open response (for the test's cleanup). */
  close(): void;
}

export function slowBigOrigin(
  body: Buffer,
  { chunkBytes = 256 * 1024, everyMs = 10, chunked = false } = {},
): SlowBigOrigin {
  let released = false;
  let requests = 0;
  let written = 0;
  let completed = 0;
  const waiting = new Set<() => void>();
  const open = new Set<ServerResponse>();
  const send = (res: ServerResponse) => {
    let offset = 0;
    const timer = setInterval(() => {
      if (res.destroyed || res.writableEnded) {
        clearInterval(timer);
        return;
      }
      const piece = body.subarray(offset, offset + chunkBytes);
      offset += piece.length;
      written += piece.length;
      if (offset >= body.length) {
        clearInterval(timer);
        completed += 1;
        res.end(piece);
      } else {
        res.write(piece);
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  };
  return {
    handler(_req, res) {
      requests += 1;
      open.add(res);
      res.on('close', () => open.delete(res));
      res.writeHead(200, {
        'Content-Type': 'image/png',
        ...(chunked ? {} : { 'Content-Length': String(body.length) }),
      });
      res.flushHeaders();
      if (released) {
        send(res);
        return;
      }
      const start = () => send(res);
      waiting.add(start);
      res.on('close', () => waiting.delete(start));
    },
    requests: () => requests,
    bodyBytesWritten: () => written,
    completed: () => completed,
    release() {
      released = true;
      for (const start of waiting) start();
      waiting.clear();
    },
    close() {
      for (const res of open) res.destroy();
    },
  };
}
