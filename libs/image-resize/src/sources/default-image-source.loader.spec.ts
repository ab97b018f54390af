import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ImageNotFoundError, SourceTooLargeError, UpstreamError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../image-resize.options';
import { DefaultImageSourceLoader } from './default-image-source.loader';

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
});
