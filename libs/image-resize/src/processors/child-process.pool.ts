import type { ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { pool as createPool, type Pool, TerminateError } from 'workerpool';

/** A task given to the pool: its result, and when the work behind it has really ended. */
export interface PoolTask<T> {
  /** The function's result; rejects with {@link WorkTimeoutError} as soon as the time is up. */
  result: Promise<T>;
  /**
   * Settles once the child has finished the task or, for a task given up on, once the child has
   * exited (it is killed at the timeout): until then the work may still hold a CPU and memory.
   */
  ended: Promise<void>;
}

/** The task ran out of time; its child is being killed. */
export class WorkTimeoutError extends Error {
  constructor() {
    super('Work timed out');
  }
}

/** The child died while working (killed by someone else, out of memory, crashed). */
export class WorkCrashedError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('Worker process exited while working', options);
  }
}

/** The pool was closed (the module is being destroyed). */
export class PoolClosedError extends Error {
  constructor() {
    super('Worker pool is closed');
  }
}

/** What the task function sends first: the pid of the child that runs it. */
interface StartedEvent {
  pid?: number;
}

/**
 * A few child processes for work that must stop when it is given up on: native work (a sharp
 * decode) cannot be interrupted inside a process, and a worker thread shares the process's libuv
 * pool, so only killing a process really frees the CPU and the memory.
 *
 * Built on workerpool's default worker (`workerType: 'process'`, Buffers passed with the
 * `advanced` serialization): a task is a self-contained function sent as source text, so the
 * same code works from the compiled package and from TypeScript sources. A task that runs out of
 * time gets its child killed with SIGKILL at once; workerpool sees the exit and forks a
 * replacement for the next task. Children are created on first use and do not keep the parent
 * process alive when idle.
 */
export class ChildProcessPool {
  private pool?: Pool;
  /** Every child forked and not yet exited, by pid. */
  private readonly children = new Map<number, { child: ChildProcess; exited: Promise<void> }>();
  private closed = false;

  /**
   * @param size most children, so most tasks at once
   * @param retireAboveBytes a child whose resident memory is larger after a task is replaced (read
   *   from /proc, so only on Linux): memory that a large image left behind goes back to the system
   */
  constructor(
    readonly size: number,
    private readonly limits: { retireAboveBytes?: number } = {},
  ) {}

  /** Children alive right now (idle or working). */
  get pids(): number[] {
    return [...this.children.keys()];
  }

  /**
   * Runs `work(...args)` in a child. The function must be self-contained; it should first send its
   * pid with workerpool's `emit` (see `makeImage`), else it cannot be killed at the timeout.
   */
  run<A extends unknown[], T>(work: (...args: A) => Promise<T>, args: A, timeoutMs: number): PoolTask<T> {
    if (this.closed) return { result: Promise.reject(new PoolClosedError()), ended: Promise.resolve() };
    let pid: number | undefined;
    /** A child forked for this task: the one to kill if it has not started the task yet. */
    let forked: number | undefined;
    let givenUp = false;
    const kill = () => {
      const target = pid ?? forked;
      if (target !== undefined) void this.kill(target);
    };
    const attempt = (mayRetry: boolean) =>
      new Promise<T>((resolve, reject) => {
        const started = (event: StartedEvent) => {
          pid = event.pid ?? pid;
          if (givenUp) kill();
        };
        const task = this.exec(work, args, started);
        forked = task.forked ?? forked;
        task.result.then(resolve, (error: unknown) => {
          if (this.closed) reject(new PoolClosedError());
          else if (givenUp) reject(new WorkTimeoutError());
          // Given to a child that had died while idle (workerpool drops it on this failure).
          else if (error instanceof TerminateError && pid === undefined && mayRetry) resolve(attempt(false));
          else reject(error instanceof TerminateError ? new WorkCrashedError({ cause: error }) : error);
        });
      });
    let timer: NodeJS.Timeout | undefined;
    // The timer also keeps this process alive while the task runs (idle children do not); it is
    // counted from now, so it includes forking a child when none is idle (about 0.1 s).
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        givenUp = true;
        kill();
        reject(new WorkTimeoutError());
      }, timeoutMs);
    });
    const settled = attempt(true);
    const retire = () => this.retireIfLarge(pid);
    const ended = settled.finally(() => clearTimeout(timer)).then(retire, retire);
    timedOut.catch(() => undefined);
    return { result: Promise.race([settled, timedOut]), ended };
  }

  /** Kills every child and waits until they have exited; later tasks are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    const exits = [...this.children.keys()].map((pid) => this.kill(pid));
    // The children are unref'd: in a process with nothing else to do (a script's `await app.close()`),
    // Node would end while waiting for their exits, and the code after the close would never run.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await Promise.all(exits);
    } finally {
      clearInterval(keepAlive);
    }
    // workerpool's own bookkeeping; its children are gone already.
    await pool?.terminate(true).catch(() => undefined);
  }

  /** Kills a child with SIGKILL (nothing it holds is worth saving); resolves once it has exited. */
  private kill(pid: number): Promise<void> {
    const entry = this.children.get(pid);
    if (entry) {
      entry.child.kill('SIGKILL');
      return entry.exited;
    }
    try {
      // Not seen being forked: killed all the same; the task's rejection tells when it has exited.
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    return Promise.resolve();
  }

  /** Kills the child `pid` if it is still there and holds more memory than `retireAboveBytes`. */
  private async retireIfLarge(pid: number | undefined): Promise<void> {
    const bound = this.limits.retireAboveBytes;
    if (pid === undefined || bound === undefined) return;
    let rss: number;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    } catch {
      return; // not Linux, or gone already
    }
    if (rss > bound) await this.kill(pid);
  }

  /** `pool.exec`, noting the children that workerpool forks during the call. */
  private exec<A extends unknown[], T>(
    work: (...args: A) => Promise<T>,
    args: A,
    on: (event: StartedEvent) => void,
  ): { result: PromiseLike<T>; forked?: number } {
    this.pool ??= createPool({
      workerType: 'process',
      maxWorkers: this.size,
      forkOpts: { serialization: 'advanced' },
    });
    // workerpool forks synchronously inside exec and does not hand out the child: the
    // child_process diagnostics channel shows it, so that it can be unref'd and killed.
    const forked: ChildProcess[] = [];
    const onFork = (message: unknown) => forked.push((message as { process: ChildProcess }).process);
    subscribe('child_process', onFork);
    try {
      const result = this.pool.exec(work, args, {
        on: (payload: unknown) => on(payload as StartedEvent),
      }) as PromiseLike<T>;
      return { result, forked: forked[0]?.pid };
    } finally {
      unsubscribe('child_process', onFork);
      forked.forEach((child) => this.track(child));
    }
  }

  private track(child: ChildProcess): void {
    const pid = child.pid;
    if (pid === undefined) return;
    // An idle child must not keep the application running; a running task has its timer.
    child.unref();
    child.channel?.unref();
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        this.children.delete(pid);
        resolve();
      }),
    );
    this.children.set(pid, { child, exited });
  }
}
