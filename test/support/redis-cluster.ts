import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort, redisServerArgs, waitForPing } from './redis-server';

const run = promisify(execFile);

/** A real Redis Cluster on free loopback ports (three masters, replicas if asked), started and stopped by the test. */
export interface TestRedisCluster {
  /** Every node, masters first as `redis-cli --cluster create` was given them (it makes the last ones replicas). */
  nodes: Array<{ host: string; port: number }>;
  client: Cluster;
  /** Stops the node on `port` as a hung host would: SIGSTOP, its connections left open. */
  pause(port: number): void;
  /** Lets a paused node run again (SIGCONT). */
  resume(port: number): void;
  /** Kills the node on `port` at once (SIGKILL), as a crash would; its connections close. */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** How {@link startTestRedisCluster} builds its cluster. */
export interface TestRedisClusterOptions {
  /** Replicas per master (default 0). */
  replicas?: number;
  /**
   * `cluster-node-timeout`: how long a node may not answer before the others count it as failed and
   * fail it over (default: Redis's 15000).
   */
  nodeTimeoutMs?: number;
}

export async function startTestRedisCluster(
  masters = 3,
  options: TestRedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const replicas = options.replicas ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
  const children = new Map<number, ChildProcess>();
  const nodes: Array<{ host: string; port: number }> = [];
  const stopAll = async () => {
    await Promise.all(
      [...children.values()].map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        return exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort();
      const nodeDir = await mkdtemp(join(dir, `node-${port}-`));
      const extra = ['--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf')];
      if (options.nodeTimeoutMs !== undefined) {
        extra.push('--cluster-node-timeout', String(options.nodeTimeoutMs));
      }
      // A replica syncs at once (diskless, without the default 5 s wait for other replicas).
      if (replicas > 0) extra.push('--repl-diskless-sync-delay', '0');
      const child = spawn('redis-server', redisServerArgs(port, nodeDir, extra), { stdio: 'ignore' });
      children.set(port, child);
      nodes.push({ host: '127.0.0.1', port });
      await waitForPing(`redis://127.0.0.1:${port}`, child);
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    await waitForClusterOk(nodes[0].port);
    if (replicas > 0) await waitForReplicas(nodes, masters * replicas);
  } catch (error) {
    await stopAll();
    throw error;
  }
  const client = new Cluster(nodes);
  const signal = (port: number, name: NodeJS.Signals) => {
    const child = children.get(port);
    if (!child) throw new Error(`no cluster node on port ${port}`);
    child.kill(name);
    return child;
  };
  return {
    nodes,
    client,
    pause: (port) => void signal(port, 'SIGSTOP'),
    resume: (port) => void signal(port, 'SIGCONT'),
    kill: async (port) => {
      const child = signal(port, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => child.once('exit', () => resolve()));
      }
    },
    stop: async () => {
      client.disconnect();
      await stopAll();
    },
  };
}

async function waitForClusterOk(port: number, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
    if (stdout.includes('cluster_state:ok')) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok: ${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until `count` replicas have a live link to their master (a failover needs one). */
async function waitForReplicas(
  nodes: Array<{ host: string; port: number }>,
  count: number,
  timeoutMs = 15000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let linked = 0;
    for (const node of nodes) {
      const probe = new Redis({ ...node, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await probe.connect();
        if (/master_link_status:up/.test(await probe.info('replication'))) linked += 1;
      } finally {
        probe.disconnect();
      }
    }
    if (linked >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${linked} of ${count} replicas linked to their master`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
