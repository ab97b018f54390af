import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ImageNotFoundError,
  OverloadedError,
  SourceNotAllowedError,
  SourceTooLargeError,
  UpstreamTimeoutError,
} from '../errors/image-resize.errors';
import { FileImageReader } from './file-image.reader';
import { SourceByteBudget } from './source-byte.budget';

describe('FileImageReader', () => {
  let dir: string;
  let root: string;
  const limits = { maxBytes: 1000 };
  const failure = (files: FileImageReader, path: string, more = {}) =>
    files.read(path, { ...limits, ...more }).then(
      () => new Error('expected a failure'),
      (error: unknown) => error,
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-source-'));
    root = join(dir, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await mkdir(join(dir, 'out'));
    await writeFile(join(root, 'a.bin'), Buffer.alloc(10, 7));
    await writeFile(join(root, 'big.bin'), Buffer.alloc(1001));
    await writeFile(join(dir, 'out', 'secret.bin'), Buffer.alloc(10, 1));
    await symlink(join(dir, 'out', 'secret.bin'), join(root, 'to-secret'));
    await symlink(join(dir, 'out', 'gone.bin'), join(root, 'dangling-out'));
    await symlink(join(root, 'gone.bin'), join(root, 'dangling-in'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
  });
  afterAll(async () => {
    try {
      closeSync(openSync(join(root, 'fifo'), constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader left blocked
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a regular file, reserving its size before reading it', async () => {
    const budget = new SourceByteBudget(100);
    const reservation = budget.open();
    expect(await new FileImageReader().read(join(root, 'a.bin'), { ...limits, reservation })).toEqual(
      Buffer.alloc(10, 7),
    );
    expect(reservation.bytes).toBe(10);
    const full = new SourceByteBudget(15);
    full.open().ensure(10);
    expect(
      await failure(new FileImageReader(), join(root, 'a.bin'), { reservation: full.open() }),
    ).toBeInstanceOf(OverloadedError);
  });

  it('refuses a file larger than maxBytes from its size, without reading it', async () => {
    expect(await failure(new FileImageReader(), join(root, 'big.bin'))).toBeInstanceOf(SourceTooLargeError);
  });

  it.each([
    ['missing', 'nope.bin'],
    ['a directory', 'sub'],
    ['a FIFO', 'fifo'],
    ['a dangling link', 'dangling-in'],
    ['below a file', join('a.bin', 'x')],
    ['empty', ''],
    ['with a NUL byte', 'a\0.bin'],
  ])('answers a path that is %s with the one 404, naming nothing', async (_name, name) => {
    for (const files of [new FileImageReader(), new FileImageReader(root)]) {
      const error = await failure(files, name === '' ? '' : join(root, name));
      expect(error).toBeInstanceOf(ImageNotFoundError);
      expect((error as Error).message).toBe('Image file not found');
    }
  });

  it.each([
    ['a ../ escape', () => join(root, 'sub', '..', '..', 'out', 'secret.bin')],
    ['a missing file outside', () => join(dir, 'out', 'nope.bin')],
    ['a link to a file outside', () => join(root, 'to-secret')],
    ['a dangling link to outside', () => join(root, 'dangling-out')],
    ['the folder above', () => dir],
  ])('refuses %s with 403 when confined to a root', async (_name, path) => {
    const error = await failure(new FileImageReader(root), path());
    expect(error).toBeInstanceOf(SourceNotAllowedError);
    expect((error as Error).message).not.toContain(dir);
    await expect(new FileImageReader(root).identify(path())).rejects.toThrow(SourceNotAllowedError);
  });

  it('identifies a file by its path, size and modification time', async () => {
    const identity = await new FileImageReader(root).identify(join(root, 'sub', '..', 'a.bin'));
    expect(identity).toEqual({ path: join(root, 'a.bin'), size: 10, mtimeMs: expect.any(Number) });
  });

  it('stops at the signal with its reason', async () => {
    const reason = new UpstreamTimeoutError();
    const error = await failure(new FileImageReader(), join(root, 'a.bin'), {
      signal: AbortSignal.abort(reason),
    });
    expect(error).toBe(reason);
  });
});
