import type { Readable } from 'node:stream';
import { SourceTooLargeError } from '../errors/image-resize.errors';

/**
 * Reads a stream into one Buffer, destroying the stream and rejecting with
 * {@link SourceTooLargeError} as soon as more than `maxBytes` have arrived (the rest is never read).
 */
export function readLimited(stream: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += buffer.length;
      if (total > maxBytes) {
        finish(new SourceTooLargeError(`Source image is larger than ${maxBytes} bytes`));
        stream.destroy();
        return;
      }
      chunks.push(buffer);
    };
    const onEnd = () => finish();
    const onError = (error: unknown) => finish(error);
    const onClose = () => finish(new Error('Source stream closed before its end'));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}
