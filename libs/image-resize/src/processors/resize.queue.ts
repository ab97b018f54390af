import { Semaphore } from 'async-mutex';
import { OverloadedError } from '../errors/image-resize.errors';

/**
 * Bounds the image work of a process: at most `concurrency` resizes at a time, at most `maxQueue`
 * waiting for a slot; past that a request fails at once with a 503 {@link OverloadedError} (with
 * `Retry-After`) instead of piling up memory. Only the processing holds a slot: sources are loaded
 * before, so a slow origin never keeps a resize waiting.
 */
export class ResizeQueue {
  private readonly semaphore: Semaphore;
  /** Tasks admitted and not finished: running (at most `concurrency`) plus waiting. */
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
   * Runs `task` when a slot is free.
   *
   * @param onQueued told how long the task waited for its slot
   * @throws OverloadedError when every slot is taken and the queue is full
   */
  async run<T>(task: () => Promise<T>, onQueued?: (waitMs: number) => void): Promise<T> {
    if (this.admitted >= this.concurrency + this.maxQueue) throw new OverloadedError();
    this.admitted += 1;
    const queuedAt = Date.now();
    try {
      return await this.semaphore.runExclusive(() => {
        onQueued?.(Date.now() - queuedAt);
        return task();
      });
    } finally {
      this.admitted -= 1;
    }
  }
}
