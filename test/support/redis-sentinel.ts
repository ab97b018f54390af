import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisServerArgs, waitForPing } from './redis-server';
import { until } from './until';

/** A master, its replica and one sentinel watching them, all private, on loopback. */
export interface TestSentinelGroup {
  /** The name the sentinel knows the master by. */
  name: string;
  sentinel: { host: string; port: number };
  /** The port of the node that is master now. */
  masterPort(): Promise<number>;
  /** Runs `SENTINEL FAILOVER` and waits until the replica has become the master. */
  failover(): Promise<{ from: number; to: number }>;
  /** A client of the node on `port`, for assertions. */
  node(port: number): Redis;
  stop(): Promise<void>;
}

/** Starts `redis-server` twice (master and replica) and once with `--sentinel`. */
export async function startSentinelGroup(): Promise<TestSentinelGroup> {
  const children: ChildProcess[] = [];
  const dirs = [mkdtempSync(join(tmpdir(), 'test-sentinel-'))];
  const clients: Redis[] = [];
  const name = 'images';
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const server = async (port: number, extra: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'test-sentinel-node-'));
    dirs.push(dir);
    // Its own folder: a replica's sync writes an RDB file there, which a later server would load.
    const child = spawn('redis-server', redisServerArgs(port, dir, extra), { stdio: 'ignore' });
    child.once('error', () => undefined);
    children.push(child);
    await waitForPing(`redis://127.0.0.1:${port}`, child);
  };
  const node = (port: number) => {
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };
  await server(masterPort, []);
  await server(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)]);
  const replica = node(replicaPort);
  await until('the replica to sync', async () =>
    (await replica.info('replication')).includes('master_link_status:up'),
  );
  const dir = dirs[0];
  const config = join(dir, 'sentinel.conf');
  writeFileSync(
    config,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const sentinelChild = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
  sentinelChild.once('error', () => undefined);
  children.push(sentinelChild);
  await waitForPing(`redis://127.0.0.1:${sentinelPort}`, sentinelChild);
  const sentinel = node(sentinelPort);
  await until('the sentinel to see the replica', async () => {
    const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', name)) as unknown[];
    return replicas.length === 1;
  });
  const masterPortNow = async () => {
    const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
    return Number(port);
  };
  return {
    name,
    sentinel: { host: '127.0.0.1', port: sentinelPort },
    masterPort: masterPortNow,
    node,
    failover: async () => {
      const from = await masterPortNow();
      const to = from === masterPort ? replicaPort : masterPort;
      await sentinel.call('SENTINEL', 'FAILOVER', name);
      await until('the failover', async () => (await masterPortNow()) === to);
      const promoted = node(to);
      await until('the promoted node to be master', async () =>
        (await promoted.info('replication')).includes('role:master'),
      );
      return { from, to };
    },
    stop: async () => {
      clients.forEach((client) => client.disconnect());
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
      dirs.forEach((folder) => rmSync(folder, { recursive: true, force: true }));
    },
  };
}
