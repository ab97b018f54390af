import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SharedInputFiles } from './shared-input.files';

describe('SharedInputFiles', () => {
  let parent: string;
  let files: SharedInputFiles;
  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'shared-input-'));
    files = new SharedInputFiles(parent);
  });
  afterEach(() => {
    files.close();
    rmSync(parent, { recursive: true, force: true });
  });

  it('writes the bytes to a private file that holds them from its start', () => {
    const slot = files.take(Buffer.from('first source'))!;
    expect(slot.input.length).toBe(12);
    expect(readFileSync(slot.input.path).subarray(0, 12).toString()).toBe('first source');
    expect(statSync(dirname(slot.input.path)).mode & 0o777).toBe(0o700);
    expect(statSync(slot.input.path).mode & 0o777).toBe(0o600);
  });

  it('gives each task in flight a file of its own, and reuses a file once given back', () => {
    const a = files.take(Buffer.from('aaaa'))!;
    const b = files.take(Buffer.from('bb'))!;
    expect(b.input.path).not.toBe(a.input.path);
    a.release();
    const c = files.take(Buffer.from('c'))!;
    expect(c.input.path).toBe(a.input.path);
    expect(c.input.length).toBe(1);
    expect(readFileSync(c.input.path).subarray(0, 1).toString()).toBe('c');
    // A second release of the same slot does not hand the file out twice.
    a.release();
    expect(files.take(Buffer.from('d'))!.input.path).not.toBe(c.input.path);
  });

  it('empties a large file when it is given back, so that a large source is not kept in memory', () => {
    const large = files.take(Buffer.alloc(5 * 1024 * 1024, 1))!;
    expect(statSync(large.input.path).size).toBe(5 * 1024 * 1024);
    large.release();
    expect(statSync(large.input.path).size).toBe(0);
    const small = files.take(Buffer.alloc(1024, 2))!;
    small.release();
    expect(statSync(small.input.path).size).toBe(1024);
  });

  it('removes its folder on close and takes nothing afterwards', () => {
    const slot = files.take(Buffer.from('x'))!;
    const folder = dirname(slot.input.path);
    files.close();
    expect(existsSync(folder)).toBe(false);
    expect(files.take(Buffer.from('y'))).toBeUndefined();
    slot.release();
    expect(readdirSync(parent)).toEqual([]);
  });

  it('takes nothing where the folder is missing or is not a folder (the bytes then go over the channel)', () => {
    expect(new SharedInputFiles(join(parent, 'missing')).take(Buffer.from('x'))).toBeUndefined();
    const file = join(parent, 'a-file');
    writeFileSync(file, '');
    expect(new SharedInputFiles(file).take(Buffer.from('x'))).toBeUndefined();
  });
});
