import type { INestApplication } from '@nestjs/common';
import { IMAGE_RESIZE_CACHE, ImageResizeService } from 'nestjs-image-resize';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedisCluster, type TestRedisCluster } from './support/redis-cluster';
import { createTestApp } from './support/test-app';
import { until } from './support/until';

/**
 * The hot tier on a Redis Cluster whose nodes fail over. Its announcements ride on plain pub/sub, which
 * every node of a cluster relays to its subscribers: what an instance must never miss is the moment
 * its subscription's node stops relaying (it crashed, or hangs and was failed over). Then its hot tier
 * is emptied, and a purge made meanwhile through another instance cannot leave it serving a stale
 * copy — however long `maxAgeMs` (here 10 minutes: not what bounds it).
 */

let cluster: TestRedisCluster;
let origin: TestOrigin;
const apps: INestApplication[] = [];
/** The test's own connection to each node, by port. */
const admin = new Map<number, Redis>();

beforeAll(async () => {
  cluster = await startTestRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1000 });
  origin = await startOrigin();
  const png = await transparentPng();
  for (let i = 0; i < 8; i++) origin.routes.set(`/f${i}.png`, { contentType: 'image/png', body: png });
}, 60_000);
afterAll(async () => {
  for (const connection of admin.values()) if (connection.status !== 'end') connection.disconnect();
  await origin?.close();
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A direct connection to the node on `port` (for CLUSTER, INFO and CLIENT LIST). */
function node(port: number): Redis {
  let connection = admin.get(port);
  if (!connection) {
    connection = new Redis({
      host: '127.0.0.1',
      port,
      maxRetriesPerRequest: 0,
      commandTimeout: 500,
      retryStrategy: () => null,
    });
    connection.on('error', () => undefined);
    admin.set(port, connection);
  }
  return connection;
}

const cacheOf = (app: INestApplication) => app.get<RedisImageCache>(IMAGE_RESIZE_CACHE);
const tierOf = (app: INestApplication) => cacheOf(app).hot as HotImageTier;
const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer()).get(path).buffer(true).parse(binary);

async function startApp(): Promise<INestApplication> {
  const app = await createTestApp(origin.url, {
    redis: { cluster: cluster.nodes },
    keyPrefix: 'fo_',
    hotCache: { maxAgeMs: 600_000 },
  });
  apps.push(app);
  await until('the hot tier subscribed', () => tierOf(app).active);
  return app;
}

/** The ports of the nodes that serve a subscribed connection now. */
async function subscribedNodes(): Promise<number[]> {
  const ports: number[] = [];
  for (const { port } of cluster.nodes) {
    const list = await node(port)
      .call('CLIENT', 'LIST', 'TYPE', 'pubsub')
      .catch(() => '');
    if (String(list).trim() !== '') ports.push(port);
  }
  return ports;
}

/** Starts an instance alone, and finds the node its subscription went to. */
async function instanceAndItsNode(): Promise<{ app: INestApplication; port: number }> {
  const app = await startApp();
  let ports: number[] = [];
  await until('one subscribed connection', async () => (ports = await subscribedNodes()).length === 1);
  return { app, port: ports[0] };
}

const isMaster = async (port: number) => /role:master/.test(await node(port).info('replication'));

/** The replica of the master on `port`. */
async function replicaOf(port: number): Promise<number> {
  const nodes = String(await node(port).call('CLUSTER', 'NODES'))
    .trim()
    .split('\n');
  const id = nodes.find((line) => line.includes('myself'))!.split(' ')[0];
  const replica = nodes.find((line) => line.split(' ')[3] === id && !line.includes('fail'));
  if (!replica) throw new Error(`master ${port} has no replica`);
  return Number(replica.split(' ')[1].split(':')[1].split('@')[0]);
}

/** Makes the node on `port` a master, by a manual failover onto it if it is a replica. */
async function makeMaster(port: number): Promise<void> {
  if (await isMaster(port)) return;
  await node(port).call('CLUSTER', 'FAILOVER');
  await until('the replica promoted', () => isMaster(port));
}

/** The slots the master on `port` serves. */
async function slotsOf(port: number): Promise<Array<[number, number]>> {
  const nodes = String(await node(port).call('CLUSTER', 'NODES'))
    .trim()
    .split('\n');
  const mine = nodes
    .find((line) => line.includes('myself'))!
    .split(' ')
    .slice(8);
  return mine
    .filter((range) => !range.startsWith('['))
    .map((range) => {
      const [from, to = from] = range.split('-').map(Number);
      return [from, to];
    });
}

/** An image (of the test origin) whose keys are not on the master on `port`. */
async function imageAwayFrom(port: number): Promise<string> {
  const slots = await slotsOf(port);
  const other = cluster.nodes.find((n) => n.port !== port)!.port;
  for (let i = 0; i < 8; i++) {
    const slot = Number(await node(other).call('CLUSTER', 'KEYSLOT', `logo_f${i}.png`));
    if (!slots.some(([from, to]) => slot >= from && slot <= to)) return `f${i}.png`;
  }
  throw new Error('no image away from the node');
}

/** Until the cluster (seen from `port`) has failed the node on `failed` over to another master. */
async function failedOver(port: number, failed: number): Promise<void> {
  await until(
    `node ${failed} failed over`,
    async () => {
      const info = String(await node(port).call('CLUSTER', 'INFO'));
      const nodes = String(await node(port).call('CLUSTER', 'NODES'));
      const line = nodes.split('\n').find((l) => l.includes(`:${failed}@`)) ?? '';
      return info.includes('cluster_state:ok') && /\bfail\b/.test(line) && !/\bmaster\b.*\d+-\d+/.test(line);
    },
    30_000,
  );
}

/** Serves `image` once from Redis, then from the hot tier of `app`. */
async function holdHot(app: INestApplication, image: string): Promise<string> {
  expect((await get(app, `/logo/${image}`)).status).toBe(200);
  expect((await get(app, `/logo/${image}`)).headers['x-cache']).toBe('HIT');
  const key = `fo_{logo_${image}}_128_128_png`;
  expect(tierOf(app).get(key)).toBeDefined();
  return key;
}

describe('the hot tier on a Redis Cluster that fails over', () => {
  it('a manual failover of its subscription node (CLUSTER FAILOVER): the purge of another instance still reaches it', async () => {
    const { app: a, port } = await instanceAndItsNode();
    const b = await startApp();
    const image = await imageAwayFrom(port);
    const key = await holdHot(a, image);

    // The node stays up: a master becomes a replica (or a replica a master), and still relays.
    const target = (await isMaster(port)) ? await replicaOf(port) : port;
    await node(target).call('CLUSTER', 'FAILOVER');
    await until('the replica promoted', () => isMaster(target));

    expect(await b.get(ImageResizeService).purge(`logo_${image}`)).toBe(1);
    await until('a no longer holds the purged copy', () => tierOf(a).get(key) === undefined);
    expect((await get(a, `/logo/${image}`)).headers['x-cache']).toBe('MISS');
  });

  it('a master that hangs and is failed over: a purge made meanwhile leaves no stale copy in the instance it served', async () => {
    const { app: a, port } = await instanceAndItsNode();
    const b = await startApp();
    await makeMaster(port);
    const image = await imageAwayFrom(port);
    const key = await holdHot(a, image);
    const witness = cluster.nodes.find((n) => n.port !== port)!.port;

    // SIGSTOP: its connections stay open, nothing closes; the others fail it over after the node timeout.
    cluster.pause(port);
    try {
      // At once, through the other instance (the variant's slot is on another master): the
      // announcement cannot reach a's subscription, whose node relays nothing now.
      expect(await b.get(ImageResizeService).purge(`logo_${image}`)).toBe(1);
      // a finds out that its node does not answer, empties its tier and subscribes elsewhere: it reads
      // Redis again, where the variant is gone.
      await until(
        'a serves the image anew',
        async () => (await get(a, `/logo/${image}`)).headers['x-cache'] === 'MISS',
      );
      await until('a subscribed again', () => tierOf(a).active);
      await failedOver(witness, port);

      // And it hears the purges again, on its new node.
      await until('a holds the image again', async () => {
        await get(a, `/logo/${image}`);
        return tierOf(a).get(key) !== undefined;
      });
      expect(await b.get(ImageResizeService).purge(`logo_${image}`)).toBe(1);
      await until('a dropped the purged copy', () => tierOf(a).get(key) === undefined);
    } finally {
      cluster.resume(port);
    }
  });

  it('a master that crashes: its instance empties its tier, subscribes on another node, and hears the purges', async () => {
    const { app: a, port } = await instanceAndItsNode();
    const b = await startApp();
    await makeMaster(port);
    const image = await imageAwayFrom(port);
    const key = await holdHot(a, image);

    await cluster.kill(port);
    await until('a emptied its tier', () => tierOf(a).get(key) === undefined);
    await until('a subscribed again', () => tierOf(a).active);
    const witness = cluster.nodes.find((n) => n.port !== port)!.port;
    await failedOver(witness, port);

    // a holds the image again, then another instance purges it.
    await until('a holds the image again', async () => {
      await get(a, `/logo/${image}`);
      return tierOf(a).get(key) !== undefined;
    });
    expect(await b.get(ImageResizeService).purge(`logo_${image}`)).toBe(1);
    await until('a dropped the purged copy', () => tierOf(a).get(key) === undefined);
  });
});
