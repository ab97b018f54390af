import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Fields of /proc/<pid>/stat after the command name (state is [0], ppid [1]); undefined once gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Processes whose parent is `pid`. */
export function childPids(pid = process.pid): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((candidate) => statFields(candidate)?.[1] === String(pid));
}

/** Children of `pid` that are image workers (workerpool's worker script). */
export function workerPids(pid = process.pid): number[] {
  return childPids(pid).filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('workerpool');
    } catch {
      return false;
    }
  });
}

/** Whether `pid` is a running process (not gone, not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/** Every process below `pid` (children, their children...), from one pass over /proc. */
export function descendants(pid = process.pid): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return []; // no /proc: not Linux
  }
  const byParent = new Map<string, number[]>();
  for (const name of entries) {
    const parent = statFields(Number(name))?.[1];
    if (parent !== undefined) byParent.set(parent, [...(byParent.get(parent) ?? []), Number(name)]);
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0;) {
    const next = byParent.get(String(queue.pop())) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

/**
 * CPU-seconds (user + system) of `pid` and everything below it: its own, its reaped children's, and
 * its live descendants'.
 */
export function treeCpuSeconds(pid = process.pid, below = descendants(pid)): number {
  const own = statFields(pid) ?? [];
  // utime, stime, cutime, cstime are fields 14-17 of stat: [11]..[14] here.
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const child of below) {
    const fields = statFields(child);
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Resident set size in bytes of `pid` and its live descendants. */
export function treeRssBytes(pid = process.pid, below = descendants(pid)): number {
  let bytes = 0;
  for (const each of [pid, ...below]) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${each}/status`, 'utf8'));
      if (match) bytes += Number(match[1]) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return bytes;
}

/** Samples {@link treeRssBytes} every `everyMs` until `stop()`, which returns the peak. */
export function sampleTreeRss(everyMs = 20, pid = process.pid): { stop: () => number } {
  let peak = treeRssBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, treeRssBytes(pid))), everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, treeRssBytes(pid));
    },
  };
}
