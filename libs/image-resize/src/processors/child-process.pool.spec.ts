import { ChildProcessPool, PoolClosedError, WorkCrashedError, WorkTimeoutError } from './child-process.pool';

// Task functions run in a child from their source text: self-contained, each first sends its pid.
type Emit = { exports: { emit(event: { pid: number }): void } };

async function reverse(bytes: Uint8Array): Promise<{ pid: number; reversed: Buffer }> {
  (process.mainModule as unknown as Emit).exports.emit({ pid: process.pid });
  return { pid: process.pid, reversed: Buffer.from(bytes).reverse() };
}

async function spin(): Promise<never> {
  (process.mainModule as unknown as Emit).exports.emit({ pid: process.pid });
  for (;;) Math.sqrt(Math.random());
}

async function spinSilently(): Promise<never> {
  for (;;) Math.sqrt(Math.random());
}

async function die(): Promise<never> {
  (process.mainModule as unknown as Emit).exports.emit({ pid: process.pid });
  process.kill(process.pid, 'SIGKILL');
  return new Promise<never>(() => undefined);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('ChildProcessPool', () => {
  let pool: ChildProcessPool;
  beforeEach(() => (pool = new ChildProcessPool(1)));
  afterEach(() => pool.close());

  it('runs a function in a child process, Buffers passed both ways', async () => {
    const { result, ended } = pool.run(reverse, [Buffer.from([1, 2, 3])], 10_000);
    const { pid, reversed } = await result;
    expect(pid).not.toBe(process.pid);
    expect(Buffer.isBuffer(reversed)).toBe(true);
    expect([...reversed]).toEqual([3, 2, 1]);
    await ended;
    expect(pool.pids).toEqual([pid]);
    // The next task reuses the idle child.
    expect((await pool.run(reverse, [Buffer.alloc(1)], 10_000).result).pid).toBe(pid);
  });

  it('answers at the timeout and kills the child; `ended` settles once it has exited', async () => {
    const { pid } = await pool.run(reverse, [Buffer.alloc(1)], 10_000).result;
    const task = pool.run(spin, [], 200);
    await expect(task.result).rejects.toBeInstanceOf(WorkTimeoutError);
    await task.ended;
    expect(alive(pid)).toBe(false);
    expect(pool.pids).toEqual([]);
    // A new child takes the next task.
    const next = await pool.run(reverse, [Buffer.alloc(1)], 10_000).result;
    expect(next.pid).not.toBe(pid);
  });

  it('kills at the timeout a child forked for the task that never said it started', async () => {
    const task = pool.run(spinSilently, [], 300);
    await expect(task.result).rejects.toBeInstanceOf(WorkTimeoutError);
    await task.ended;
    expect(pool.pids).toEqual([]);
  });

  it('reports a child that dies while working as a crash', async () => {
    const task = pool.run(die, [], 10_000);
    await expect(task.result).rejects.toBeInstanceOf(WorkCrashedError);
    expect((await pool.run(reverse, [Buffer.alloc(1)], 10_000).result).reversed).toHaveLength(1);
  });

  it('replaces, unseen by the next task, a child that died while idle', async () => {
    const { pid } = await pool.run(reverse, [Buffer.alloc(1)], 10_000).result;
    process.kill(pid, 'SIGKILL');
    while (pool.pids.includes(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
    const next = await pool.run(reverse, [Buffer.from([1, 2])], 10_000).result;
    expect(next.pid).not.toBe(pid);
    expect([...next.reversed]).toEqual([2, 1]);
  });

  it('retires a child that holds more than `retireAboveBytes` after its task, before `ended`', async () => {
    const lean = new ChildProcessPool(1, { retireAboveBytes: 1 });
    try {
      const task = lean.run(reverse, [Buffer.alloc(1)], 10_000);
      const { pid } = await task.result;
      await task.ended;
      expect(alive(pid)).toBe(false);
      expect(lean.pids).toEqual([]);
      expect((await lean.run(reverse, [Buffer.alloc(1)], 10_000).result).pid).not.toBe(pid);
    } finally {
      await lean.close();
    }
  });

  it('close() kills every child, busy or idle, and waits until they are gone', async () => {
    const two = new ChildProcessPool(2);
    const busy = two.run(spin, [], 60_000).result.catch((error: unknown) => error);
    const { pid: idle } = await two.run(reverse, [Buffer.alloc(1)], 10_000).result;
    expect(two.pids).toHaveLength(2);
    await two.close();
    expect(two.pids).toEqual([]);
    expect(alive(idle)).toBe(false);
    expect(await busy).toBeInstanceOf(PoolClosedError);
    await expect(two.run(reverse, [Buffer.alloc(1)], 1000).result).rejects.toBeInstanceOf(PoolClosedError);
  });

  it("keeps the process alive while close() waits for its unref'd children (a script ends after it)", async () => {
    await pool.run(reverse, [Buffer.alloc(1)], 10_000).result;
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    const closing = pool.close();
    expect(timers()).toBe(before + 1);
    await closing;
    expect(timers()).toBe(before);
  });
});
