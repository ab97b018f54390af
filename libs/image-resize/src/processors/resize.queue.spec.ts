import { OverloadedError } from '../errors/image-resize.errors';
import { holdSlotUntil, ResizeQueue } from './resize.queue';

/** A task that finishes when the test says so. */
function gate<T>(value: T) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { task: async () => (await opened, value), open };
}

describe('ResizeQueue', () => {
  it('runs at most `concurrency` tasks at once, the rest in order when slots free up', async () => {
    const queue = new ResizeQueue(2, 10);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const gates = [0, 1, 2, 3].map((i) => gate(i));
    const results = gates.map((g, i) =>
      queue.run(async () => {
        running += 1;
        most = Math.max(most, running);
        const value = await g.task();
        order.push(i);
        running -= 1;
        return value;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(queue.depth).toBe(2);
    gates.forEach((g) => g.open());
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect(most).toBe(2);
    expect(queue.depth).toBe(0);
  });

  it('refuses at once with 503 when the slots are busy and the queue is full', async () => {
    const queue = new ResizeQueue(1, 1);
    const first = gate('a');
    const second = gate('b');
    const running = queue.run(first.task);
    const waiting = queue.run(second.task);
    await new Promise((resolve) => setImmediate(resolve));
    const error = await queue.run(async () => 'c').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OverloadedError);
    expect((error as OverloadedError).getStatus()).toBe(503);
    expect((error as OverloadedError).retryAfterSeconds).toBeGreaterThan(0);
    first.open();
    second.open();
    expect(await Promise.all([running, waiting])).toEqual(['a', 'b']);
  });

  it('frees the slot of a task that fails, and reports how long a task waited', async () => {
    const queue = new ResizeQueue(1, 0);
    await expect(queue.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const waits: number[] = [];
    expect(
      await queue.run(
        async () => 'next',
        (ms) => waits.push(ms),
      ),
    ).toBe('next');
    expect(waits).toHaveLength(1);
  });

  it('keeps the slot of a task whose answer came early until its work has ended', async () => {
    const queue = new ResizeQueue(1, 1);
    const work = gate(undefined);
    const ended = work.task();
    // The answer comes at once (as a timeout's 503 does), the work behind it goes on.
    const first = queue.run(() => holdSlotUntil(Promise.reject(new Error('timed out')), ended));
    await expect(first).rejects.toThrow('timed out');
    let secondStarted = false;
    const second = queue.run(async () => {
      secondStarted = true;
      return 'second';
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(secondStarted).toBe(false);
    expect(queue.depth).toBe(1);
    work.open();
    expect(await second).toBe('second');
    expect(queue.depth).toBe(0);
  });
});
