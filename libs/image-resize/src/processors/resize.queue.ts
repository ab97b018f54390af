import { Semaphore } from 'async-mutex';
import { OverloadedError } from '../errors/image-resize.errors';

/** For a task's result promise: the promise that settles when its work has really ended. */
const workEnds = new WeakMap<Promise<unknown>, Promise<unknown>>();

/**
 * Marks `result` (what a task returns to {@link ResizeQueue.run}) as belonging to work that may go
 * on after `result` has settled, e.g. a child process that is still being killed after a
 * timeout: the task's slot stays taken until `ended` settles. Returns `result` itself.
 */
export function holdSlotUntil<T>(result: Promise<T>, ended: Promise<unknown>): Promise<T> {
  workEnds.set(result, ended);
  return result;
}

/** `derived` (e.g. `result.then(...)` in a wrapping processor) holds the slot as `result` does. */
export function holdSlotLike<T>(derived: Promise<T>, result: Promise<unknown>): Promise<T> {
  const ended = workEnds.get(result);
  return ended ? holdSlotUntil(derived, ended) : derived;
}

/**
 * Bounds the image work of a process: at most `concurrency` resizes at a time, at most `maxQueue`
 * waiting for a slot; past that a request fails at once with a 503 {@link OverloadedError} (with
 * `Retry-After`) instead of piling up memory. Only the processing holds a slot: sources are loaded
 * before, so a slow origin never keeps a resize waiting. A slot is freed when the task's work has
 * ended, which for a task marked with {@link holdSlotUntil} may be after its answer.
 */
export class ResizeQueue {
  private readonly semaphore: Semaphore;
  /** Tasks admitted and not ended: running (at most `concurrency`) plus waiting. */
  private admitted = 0;

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {
    this.semaphore = new Semaphore(concurrency);
  }

  /** Requests waiting for a slot right now. */
  get depth(): number {
    return Math.max(0, this.admitted - this.concurrency);
  }

  /**
   * Runs `task` when a slot is free, and answers with its result.
   *
   * @param onQueued told how long the task waited for its slot
   * @throws OverloadedError when every slot is taken and the queue is full
   */
  async run<T>(task: () => Promise<T>, onQueued?: (waitMs: number) => void): Promise<T> {
    if (this.admitted >= this.concurrency + this.maxQueue) throw new OverloadedError();
    this.admitted += 1;
    const queuedAt = Date.now();
    const [, release] = await this.semaphore.acquire();
    const free = () => {
      this.admitted -= 1;
      release();
    };
    let result: Promise<T>;
    try {
      onQueued?.(Date.now() - queuedAt);
      result = task();
    } catch (error) {
      free();
      throw error;
    }
    (workEnds.get(result) ?? result).then(free, free);
    return result;
  }
}
