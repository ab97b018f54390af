import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  ImageNotFoundError,
  OverloadedError,
  SourceTooLargeError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import { DefaultImageSourceLoader } from './default-image-source.loader';
import { SourceByteBudget } from './source-byte.budget';

describe('DefaultImageSourceLoader', () => {
  const loader = new DefaultImageSourceLoader(resolveImageResizeOptions({ maxSourceBytes: 1024 }));
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-source-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes a Buffer through, within the byte limit', async () => {
    const body = Buffer.alloc(1024, 3);
    expect((await loader.load({ buffer: body })).body).toBe(body);
    await expect(loader.load({ buffer: Buffer.alloc(1025) })).rejects.toThrow(SourceTooLargeError);
  });

  it('reads a stream up to the limit and stops reading past it', async () => {
    expect(
      (await loader.load({ stream: Readable.from([Buffer.alloc(600), Buffer.alloc(400)]) })).body.length,
    ).toBe(1000);
    const endless = new PassThrough();
    const feeding = setInterval(() => endless.write(Buffer.alloc(300)), 5);
    await expect(loader.load({ stream: endless })).rejects.toThrow(SourceTooLargeError);
    clearInterval(feeding);
    expect(endless.destroyed).toBe(true);
  });

  it('maps a failing stream to 502', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    const error = await loader.load({ stream: failing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).not.toContain('disk on fire');
  });

  it('reads a file, and answers 404 for a missing one without naming its path', async () => {
    const path = join(dir, 'logo.bin');
    await writeFile(path, Buffer.alloc(10, 9));
    expect((await loader.load({ path })).body).toEqual(Buffer.alloc(10, 9));
    const error = await loader.load({ path: join(dir, 'nope.png') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageNotFoundError);
    expect((error as Error).message).not.toContain(dir);
  });

  it('answers a stream that never ends with 504 at fetchTimeoutMs, and destroys it', async () => {
    const quick = new DefaultImageSourceLoader(
      resolveImageResizeOptions({ maxSourceBytes: 1024, fetchTimeoutMs: 100 }),
    );
    const never = new PassThrough();
    const error = await quick.load({ stream: never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamTimeoutError);
    expect((error as UpstreamTimeoutError).logCause).toBe(
      'the stream did not end within 100 ms (fetchTimeoutMs)',
    );
    expect(never.destroyed).toBe(true);
  });

  it("stops at the caller's signal, and reserves what it reads in the caller's budget", async () => {
    const reason = new UpstreamTimeoutError();
    const never = new PassThrough();
    await expect(loader.load({ stream: never }, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(never.destroyed).toBe(true);

    const path = join(dir, 'reserved.bin');
    await writeFile(path, Buffer.alloc(600));
    const budget = new SourceByteBudget(1000);
    const reservation = budget.open();
    await loader.load({ path }, { reservation });
    expect(reservation.bytes).toBe(600);
    await expect(loader.load({ path }, { reservation: budget.open() })).rejects.toThrow(OverloadedError);
    const streamed = budget.open();
    await loader.load({ stream: Readable.from([Buffer.alloc(300)]) }, { reservation: streamed });
    expect([streamed.bytes, budget.inFlight]).toEqual([300, 900]);
  });
});
