import { execFileSync } from 'node:child_process';
import { CLIENT_CORE, onCore, run, shown } from './processes';

/** One wrk run: throughput, latency percentiles (ms) and what went wrong. */
export interface WrkResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  /** Responses that were not 2xx/3xx, plus socket errors. */
  errors: number;
  command: string;
}

/** How each measured run is made; `BENCH_DURATION` (seconds) and `BENCH_CONNECTIONS` override. */
export const WRK = {
  duration: Number(process.env.BENCH_DURATION ?? 5),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
};

/** Installs wrk from the distribution's packages when it is missing (it needs root or sudo). */
export function ensureWrk(): void {
  if (has('wrk')) return;
  const root = process.getuid?.() === 0;
  const apt = (...args: string[]) => {
    const [command, argv] = root ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
    console.log(`$ ${shown(command, argv)}`);
    execFileSync(command, argv, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  };
  console.log('wrk is missing; installing it from the distribution');
  apt('update', '-qq');
  apt('install', '-y', '-qq', 'wrk');
  if (!has('wrk')) throw new Error('wrk could not be installed: install it with your package manager');
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `wrk -t1 -c<connections> -d<seconds>s --latency <url>` on the client core. */
export async function wrk(url: string, seconds = WRK.duration): Promise<WrkResult> {
  const args = ['-t1', `-c${WRK.connections}`, `-d${seconds}s`, '--latency', url];
  const [command, argv] = onCore(CLIENT_CORE, 'wrk', args);
  const output = await run(CLIENT_CORE, 'wrk', args);
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? NaN);
  const percentile = (p: number) => toMs(new RegExp(`^\\s+${p}%\\s+([\\d.]+\\w+)`, 'm').exec(output)?.[1]);
  return {
    rps: number(/Requests\/sec:\s+([\d.]+)/),
    p50: percentile(50),
    p90: percentile(90),
    p99: percentile(99),
    errors:
      (number(/Non-2xx or 3xx responses:\s+(\d+)/) || 0) +
      [...output.matchAll(/(connect|read|write|timeout) (\d+)/g)].reduce((sum, m) => sum + Number(m[2]), 0),
    command: shown(command, argv),
  };
}

/** wrk prints `812.00us`, `1.20ms`, `2.01s`. */
function toMs(value: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value ?? '');
  if (!match) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(match[1]) * scale;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The run with the median throughput among `runs`. */
export function medianRun(runs: WrkResult[]): WrkResult {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
