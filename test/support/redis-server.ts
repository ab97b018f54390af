import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A Redis server for a test file: a private `redis-server` on a free port, or the one `REDIS_URL` names. */
export interface TestRedis {
  url: string;
  /** A client of the test's own, for assertions (PTTL, STRLEN, ...). */
  client: Redis;
  /** Stops the private server (if one was started) and closes the client. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, as the kernel hands it out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The arguments of a throwaway `redis-server` on loopback `port`, keeping nothing (no RDB, no AOF) and
 * writing what it must (a replica's sync, a cluster's node file) into `dir`, never the working folder.
 */
export function redisServerArgs(port: number, dir: string, extra: string[] = []): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    ...extra,
  ];
}

/** Waits until the Redis at `url` answers PING (or `child` exits). */
export async function waitForPing(
  url: string,
  child: ChildProcess | undefined,
  timeoutMs = 10000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (error) {
      lastError = error;
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`Redis at ${url} did not answer PING: ${String(lastError)}`);
}

/** A `redis-server` of the test's own, which the test may kill and start again on the same port. */
export interface PrivateRedis extends TestRedis {
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts the server again on the same port: empty, or with its data when it is `persistent`. */
  restart(): Promise<void>;
  /**
   * Stops the server as an operator would (SIGTERM): a `persistent` one flushes its data to disk first,
   * and {@link restart} starts it again with that data.
   */
  shutdown(): Promise<void>;
}

/** How {@link startPrivateRedis} runs its server. */
export interface PrivateRedisOptions {
  /**
   * Keep the data across {@link PrivateRedis.shutdown} (or a kill) and {@link PrivateRedis.restart},
   * as a production Redis does: an append-only file, fsynced at every write, in a temporary directory
   * that {@link PrivateRedis.stop} removes. Default false: `--save '' --appendonly no`, empty on restart.
   */
  persistent?: boolean;
}

/**
 * Starts `redis-server --save '' --appendonly no` on a free loopback port, or uses `REDIS_URL` when it
 * is set. With `REDIS_URL`, every test must use its own key prefix: the database is shared.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    const url = process.env.REDIS_URL;
    await waitForPing(url, undefined);
    const client = new Redis(url);
    return { url, client, stop: async () => void (await client.quit()) };
  }
  return startPrivateRedis();
}

/** Always a private `redis-server` (never `REDIS_URL`): for tests that stop or reconfigure it. */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const dataDir = options.persistent ? mkdtempSync(join(tmpdir(), 'test-redis-')) : undefined;
  const persistence = dataDir
    ? ['--dir', dataDir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--save', '', '--appendonly', 'no'];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const launch = async () => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...persistence], {
      stdio: 'ignore',
    });
    started.once('error', () => undefined);
    child = started;
    exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
    await waitForPing(url, started).catch((error: Error) => {
      if ((error.message ?? '').includes('exited')) {
        throw new Error(
          'redis-server could not start: install it (apt-get install redis-server) or set REDIS_URL',
        );
      }
      throw error;
    });
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (child && child.exitCode === null) {
      child.kill(signal);
      await exited;
    }
  };
  await launch();
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return {
    url,
    client,
    kill: () => halt('SIGKILL'),
    restart: launch,
    shutdown: () => halt('SIGTERM'),
    stop: async () => {
      client.disconnect();
      await halt('SIGTERM');
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
