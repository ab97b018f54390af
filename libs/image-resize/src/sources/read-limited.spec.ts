import { PassThrough, Readable } from 'node:stream';
import { OverloadedError, SourceTooLargeError, UpstreamTimeoutError } from '../errors/image-resize.errors';
import { readLimited } from './read-limited';
import { SourceByteBudget } from './source-byte.budget';

describe('readLimited', () => {
  const chunks = (...sizes: number[]) => Readable.from(sizes.map((size, i) => Buffer.alloc(size, i + 1)));

  it('reads every chunk into one buffer, of the expected size or not', async () => {
    const exact = await readLimited(chunks(3, 4), 10, { expectedBytes: 7 });
    expect(exact).toEqual(Buffer.from([1, 1, 1, 2, 2, 2, 2]));
    expect((await readLimited(chunks(3, 4), 10, { expectedBytes: 5 })).length).toBe(7);
    expect((await readLimited(chunks(3, 4), 10, { expectedBytes: 20 })).length).toBe(7);
  });

  it('stops past maxBytes, destroying the stream', async () => {
    const stream = chunks(6, 6);
    await expect(readLimited(stream, 10)).rejects.toThrow(SourceTooLargeError);
    expect(stream.destroyed).toBe(true);
  });

  it('reserves each chunk before keeping it, and stops when the budget refuses one', async () => {
    const budget = new SourceByteBudget(10);
    const reservation = budget.open();
    expect((await readLimited(chunks(3, 4), 10, { reservation })).length).toBe(7);
    expect(reservation.bytes).toBe(7);
    const other = budget.open();
    const stream = chunks(2, 2);
    await expect(readLimited(stream, 10, { reservation: other })).rejects.toThrow(OverloadedError);
    expect(stream.destroyed).toBe(true);
    expect(other.bytes).toBe(2);
  });

  it('stops at the signal with its reason, destroying a stream that never ends', async () => {
    const endless = new PassThrough();
    const controller = new AbortController();
    const reason = new UpstreamTimeoutError();
    setTimeout(() => controller.abort(reason), 20);
    await expect(readLimited(endless, 10, { signal: controller.signal })).rejects.toBe(reason);
    expect(endless.destroyed).toBe(true);
    const unread = new PassThrough();
    await expect(readLimited(unread, 10, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(unread.destroyed).toBe(true);
  });
});
