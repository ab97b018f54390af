import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { treeRssBytes } from '../../test/support/process-tree';
import { availableParallelism, cpus } from 'node:os';

/**
 * The two cores of the benchmark: servers run on {@link SERVER_CORE}, the load generator (and Redis)
 * on {@link CLIENT_CORE}, so that neither takes time from the other. Without `taskset`, or on a
 * machine with one core, nothing is pinned.
 */
export const SERVER_CORE = 0;
export const CLIENT_CORE = 1;
/**
 * Every core: for what is measured at full concurrency. Said explicitly, since a process started by
 * the benchmark's own (pinned to {@link CLIENT_CORE}) would otherwise inherit its one core.
 */
export const ALL_CORES = 'all';
/** Where a process runs: one core, or all of them. */
export type Cores = number | typeof ALL_CORES;

const canPin = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return availableParallelism() >= 2;
  } catch {
    return false;
  }
})();

/** Whether processes are pinned to cores here. */
export function pinnable(): boolean {
  return canPin;
}

/** `command args` run on `core` (through `taskset` where it can pin). */
export function onCore(core: Cores, command: string, args: string[]): [string, string[]] {
  const list = core === ALL_CORES ? `0-${cpus().length - 1}` : String(core);
  return canPin ? ['taskset', ['-c', list, command, ...args]] : [command, args];
}

/** A command line as a shell would show it, for the printed record of what ran. */
export function shown(command: string, args: string[], env: Record<string, string> = {}): string {
  const quote = (word: string) => (/^[\w./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);
  const vars = Object.entries(env).map(([name, value]) => `${name}=${quote(value)}`);
  return [...vars, command, ...args].map((word, i) => (i < vars.length ? word : quote(word))).join(' ');
}

/** A process the benchmark started. */
export interface Started {
  name: string;
  /** The command line, for the record. */
  command: string;
  child: ChildProcess;
  /** Resident memory of the process and its children (the image workers) now, in bytes (0 once gone). */
  rss(): number;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `command` on `core` with extra `env`, keeping its last output lines for error messages. */
export function start(
  name: string,
  core: Cores,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Started {
  const [cmd, argv] = onCore(core, command, args);
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString().split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 20));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    if (code && !stopping) process.stderr.write(`${name} exited with ${code}:\n${tail.join('\n')}\n`);
  });
  return {
    name,
    command: shown(cmd, argv, env),
    child,
    rss: () => (child.pid === undefined ? 0 : treeRssBytes(child.pid)),
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until `url` answers (any status), failing with the process's name after `timeoutMs`. */
export async function waitForHttp(url: string, server: Started, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`${server.name} exited before answering ${url}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${server.name} did not answer ${url} within ${timeoutMs} ms`);
}

/** Runs `command` to its end and returns its standard output; throws with its error output. */
export function run(core: Cores, command: string, args: string[]): Promise<string> {
  const [cmd, argv] = onCore(core, command, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${shown(command, args)} failed (${code}): ${err}`)),
    );
  });
}
