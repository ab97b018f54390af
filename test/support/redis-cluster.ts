import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { freePort, redisServerArgs, waitForPing } from './redis-server';

const run = promisify(execFile);

/** A real three-master Redis Cluster on free loopback ports, started and stopped by the test. */
export interface TestRedisCluster {
  nodes: Array<{ host: string; port: number }>;
  client: Cluster;
  stop(): Promise<void>;
}

export async function startTestRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: Array<{ host: string; port: number }> = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const nodeDir = await mkdtemp(join(dir, `node-${port}-`));
      const child = spawn(
        'redis-server',
        redisServerArgs(port, nodeDir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(nodeDir, 'nodes.conf'),
        ]),
        { stdio: 'ignore' },
      );
      children.push(child);
      nodes.push({ host: '127.0.0.1', port });
      await waitForPing(`redis://127.0.0.1:${port}`, child);
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitForClusterOk(nodes[0].port);
  } catch (error) {
    children.forEach((child) => child.kill('SIGKILL'));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const client = new Cluster(nodes);
  return {
    nodes,
    client,
    stop: async () => {
      client.disconnect();
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM'))),
        ),
      );
      await rm(dir, { recursive: true, force: true });
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
