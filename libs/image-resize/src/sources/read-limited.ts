import type { Readable } from 'node:stream';
import { SourceTooLargeError } from '../errors/image-resize.errors';
import type { SourceBytesReservation } from './image-source-loader.interface';

/** Extra limits of {@link readLimited}. */
export interface ReadLimitedOptions {
  /** Grown to the bytes read so far before a chunk is kept; a refusal stops the read. */
  reservation?: SourceBytesReservation;
  /** Bytes the stream is expected to hold (a `Content-Length`, a file's size): read into one buffer. */
  expectedBytes?: number;
  /** Stops the read, destroying the stream, with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Reads a stream into one Buffer, destroying the stream and rejecting with
 * {@link SourceTooLargeError} as soon as more than `maxBytes` have arrived (the rest is never read),
 * with the reservation's refusal when the admission budget cannot take a chunk, or with the signal's
 * reason when it is aborted.
 */
export function readLimited(
  stream: Readable,
  maxBytes: number,
  options: ReadLimitedOptions = {},
): Promise<Buffer> {
  const { reservation, signal } = options;
  return new Promise<Buffer>((resolve, reject) => {
    const bytes = new ByteCollector(options.expectedBytes);
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        stream.destroy();
        reject(error);
      } else {
        resolve(bytes.result());
      }
    };
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const total = bytes.length + buffer.length;
      if (total > maxBytes) {
        finish(new SourceTooLargeError(`Source image is larger than ${maxBytes} bytes`));
        return;
      }
      try {
        reservation?.ensure(total);
      } catch (error) {
        finish(error);
        return;
      }
      bytes.push(buffer);
    };
    const onEnd = () => finish();
    const onError = (error: unknown) => finish(error);
    const onClose = () => finish(new Error('Source stream closed before its end'));
    const onAbort = () => finish(signal?.reason ?? new Error('Source read aborted'));
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

/** Chunks into one Buffer: copied into a buffer of the expected size when it is known (no second copy). */
class ByteCollector {
  private slab?: Buffer;
  private chunks: Buffer[] = [];
  length = 0;

  constructor(expected?: number) {
    if (expected !== undefined && expected > 0) this.slab = Buffer.allocUnsafe(expected);
  }

  push(chunk: Buffer): void {
    if (this.slab && this.length + chunk.length <= this.slab.length) {
      chunk.copy(this.slab, this.length);
    } else {
      if (this.slab) this.chunks.push(this.slab.subarray(0, this.length));
      this.slab = undefined;
      this.chunks.push(chunk);
    }
    this.length += chunk.length;
  }

  result(): Buffer {
    if (!this.slab) return Buffer.concat(this.chunks, this.length);
    // Fewer bytes than expected: an exact copy, so the unused rest is not kept alive.
    return this.length === this.slab.length ? this.slab : Buffer.from(this.slab.subarray(0, this.length));
  }
}
