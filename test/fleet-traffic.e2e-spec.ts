import type { INestApplication } from '@nestjs/common';
import {
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleRootOptions,
  ImageResizeService,
} from 'nestjs-image-resize';
import { Redis } from 'ioredis';
import request from 'supertest';
import { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { tinyCachedImage, transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { createTestApp } from './support/test-app';
import { until } from './support/until';

/**
 * What a fleet of instances costs Redis in pub/sub and commands: an ordinary miss is announced to
 * nobody (no other instance can hold what Redis did not have), a replacement and a purge are; a read
 * from Redis is kept unless its own key or group was invalidated meanwhile; an instance waiting for
 * another one's miss is woken when the result is stored, instead of polling.
 *
 * Counts come from the server (INFO commandstats, which counts the commands scripts run too, and a
 * subscriber of the test's own on the channel). With `FLEET_TRAFFIC_REPORT=1` each measure is printed.
 */

let redis: PrivateRedis;
let origin: TestOrigin;
let png: Buffer;
const apps: INestApplication[] = [];

beforeAll(async () => {
  redis = await startPrivateRedis();
  origin = await startOrigin();
  png = await transparentPng();
  for (let i = 0; i < 100; i++) origin.routes.set(`/m${i}.png`, { contentType: 'image/png', body: png });
});
afterAll(async () => {
  await origin.close();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function report(what: string, value: unknown): void {
  if (process.env.FLEET_TRAFFIC_REPORT)
    process.stdout.write(`[fleet-traffic] ${what}: ${JSON.stringify(value)}\n`);
}

async function startApp(keyPrefix: string, options: ImageResizeModuleRootOptions = {}) {
  const app = await createTestApp(origin.url, { redis: redis.url, keyPrefix, ...options });
  apps.push(app);
  await until('the hot tier subscribed', () => tierOf(app).active);
  return app;
}

const cacheOf = (app: INestApplication) => app.get<RedisImageCache>(IMAGE_RESIZE_CACHE);
const tierOf = (app: INestApplication) => cacheOf(app).hot as HotImageTier;
/** A request, sent at once (a supertest request waits to be awaited). */
const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer())
    .get(path)
    .buffer(true)
    .parse(binary)
    .then((res) => res);

/** Calls per command (lower case) that Redis has counted so far, INFO itself left out. */
async function commandCalls(): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const [, name, count] of (await redis.client.info('commandstats')).matchAll(
    /^cmdstat_([^:]+):calls=(\d+)/gm,
  )) {
    if (name !== 'info') calls.set(name, Number(count));
  }
  return calls;
}

/** What Redis counted between two {@link commandCalls}: per command, and in all. */
function difference(before: Map<string, number>, after: Map<string, number>) {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [name, count] of after) {
    const delta = count - (before.get(name) ?? 0);
    if (delta > 0) byCommand[name] = delta;
    total += delta;
  }
  return { total, byCommand };
}

/** A subscriber of the test's own on `channel`: how many messages went out on it. */
async function countMessages(channel: string) {
  const listener = new Redis(redis.url);
  let count = 0;
  listener.on('message', () => (count += 1));
  await listener.subscribe(channel);
  return {
    get count() {
      return count;
    },
    close: () => listener.quit(),
  };
}

describe('what a fleet announces', () => {
  it('announces no ordinary miss, and no hit: 100 misses and 200 hits over two instances publish nothing', async () => {
    const [a, b] = [await startApp('ft1_'), await startApp('ft1_')];
    const listener = await countMessages('ft1_invalidate');
    const before = await commandCalls();
    for (let i = 0; i < 100; i++) {
      expect((await get(i % 2 ? a : b, `/logo/m${i}.png`)).headers['x-cache']).toBe('MISS');
    }
    for (let i = 0; i < 100; i++) {
      for (const app of [a, b]) expect((await get(app, `/logo/m${i}.png`)).headers['x-cache']).toBe('HIT');
    }
    const { total, byCommand } = difference(before, await commandCalls());
    // Each instance holds every image now, the ones it read from Redis too: hits cost nothing.
    const held = await commandCalls();
    for (let i = 0; i < 100; i++) {
      for (const app of [a, b]) expect((await get(app, `/logo/m${i}.png`)).headers['x-cache']).toBe('HIT');
    }
    expect(difference(held, await commandCalls()).total).toBe(0);
    // The listener's count settles once Redis has sent what it published (before the next reply).
    await redis.client.ping();
    const subscribers = 2;
    report('100 misses then 200 hits, two instances', {
      publishes: byCommand.publish ?? 0,
      messagesToInstances: listener.count * subscribers,
      publishesPerMiss: (byCommand.publish ?? 0) / 100,
      messagesPerRequest: (listener.count * subscribers) / 300,
      redisCommandsPerRequest: total / 300,
      byCommand,
    });
    await listener.close();
    expect(byCommand.publish ?? 0).toBe(0);
    expect(listener.count).toBe(0);
  });

  it('announces a replacement and a purge, once each, and the other instance drops its copy', async () => {
    const [a, b] = [await startApp('ft2_', { allowRedraw: true }), await startApp('ft2_')];
    const key = 'ft2_logo_m1.png_128_128_png';
    await get(a, '/logo/m1.png');
    await get(b, '/logo/m1.png');
    expect(tierOf(b).get(key)).toBeDefined();
    const listener = await countMessages('ft2_invalidate');

    expect((await get(a, '/logo/m1.png?redraw=1')).headers['x-cache']).toBe('BYPASS');
    await until('b dropped its copy', () => tierOf(b).get(key) === undefined);
    expect(listener.count).toBe(1);

    await get(b, '/logo/m1.png');
    expect(tierOf(b).get(key)).toBeDefined();
    expect(await a.get(ImageResizeService).purge('logo_m1.png')).toBe(1);
    await until('b dropped the purged copy', () => tierOf(b).get(key) === undefined);
    expect(listener.count).toBe(2);
    await listener.close();
  });
});

describe('the copies a hot tier keeps', () => {
  const image = () => tinyCachedImage({ expiresAt: Date.now() + 60_000 });
  const ref = { key: 'marks_a_1_1_png', group: 'marks_a#variants', lock: 'marks_a_1_1_png#lock' };
  let client: Redis;
  let tier: HotImageTier;
  beforeEach(async () => {
    client = new Redis(redis.url);
    tier = new HotImageTier(1024 * 1024, 'marks_invalidate');
    tier.start(client);
    await until('the tier subscribed', () => tier.active);
  });
  afterEach(async () => {
    await tier.stop();
    client.disconnect();
  });

  /** Announces `message` as another instance would, and waits until the tier has heard it. */
  async function announce(message: string) {
    const mark = tier.mark;
    await client.publish('marks_invalidate', `another-instance ${message}`);
    await until('the tier heard it', () => tier.mark !== mark);
  }

  it('keeps a read from Redis while other instances replace and purge other images', async () => {
    const mark = tier.mark;
    await announce('k marks_b_1_1_png');
    await announce('g marks_b#variants');
    tier.keep(ref, image(), mark);
    expect(tier.get(ref.key)).toBeDefined();
  });

  it('drops a read from Redis that overlapped an invalidation of its key, or of its group', async () => {
    let mark = tier.mark;
    await announce(`k ${ref.key}`);
    tier.keep(ref, image(), mark);
    expect(tier.get(ref.key)).toBeUndefined();

    mark = tier.mark;
    await announce(`g ${ref.group}`);
    tier.keep(ref, image(), mark);
    expect(tier.get(ref.key)).toBeUndefined();
  });

  it('drops a read from Redis that overlapped a drop of its subscription', async () => {
    const mark = tier.mark;
    await redis.client.client('KILL', 'TYPE', 'pubsub');
    await until('the tier subscribed again', async () => tier.mark !== mark && tier.active);
    tier.keep(ref, image(), mark);
    expect(tier.get(ref.key)).toBeUndefined();
  });

  it('does not keep a read that overlapped a store of the same key by this instance', () => {
    const mark = tier.mark;
    tier.stored(client, { ...ref, key: 'marks_a_2_2_png' }, image(), tier.mark, false);
    tier.keep(ref, image(), mark);
    expect(tier.get(ref.key)).toBeDefined();
    const before = tier.mark;
    tier.stored(client, ref, image(), tier.mark, false);
    tier.keep(ref, { ...image(), etag: '"stale"' }, before);
    expect(tier.get(ref.key)?.etag).not.toBe('"stale"');
  });
});

describe('an instance waiting for another one’s miss', () => {
  /** An origin route that answers after `ms`. */
  function slowRoute(path: string, ms: number) {
    origin.routes.set(path, (_req, res) => {
      setTimeout(() => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png), ms);
    });
  }

  /**
   * One request on `a` that makes a new image from a 2 s origin, with (or without) a request on `b`
   * for it meanwhile: what Redis counted, and the responses.
   */
  async function miss(a: INestApplication, b: INestApplication, name: string, waiter: boolean) {
    slowRoute(`/${name}.png`, 2000);
    const before = await commandCalls();
    const holder = get(a, `/logo/${name}.png`);
    // The holder fetches once it holds the lock: the other one waits from here.
    await until('the holder fetches', () => origin.hits.get(`/${name}.png`) === 1, 5000, 5);
    const waiting = waiter ? get(b, `/logo/${name}.png`) : undefined;
    const at = (response: Promise<unknown> | undefined) => response?.then(() => performance.now());
    const [held, waited, heldAt, waitedAt] = await Promise.all([holder, waiting, at(holder), at(waiting)]);
    const counted = difference(before, await commandCalls());
    // How much later than the holder's answer the waiting one came (not asserted: timing).
    const lagMs = waitedAt === undefined ? undefined : Math.round((waitedAt - heldAt!) * 10) / 10;
    return { held, waited, counted, lagMs };
  }

  it('is woken when the result is stored: a few commands instead of polling every 25 ms', async () => {
    const [a, b] = [await startApp('ft3_'), await startApp('ft3_')];
    const alone = await miss(a, b, 'alone', false);
    const shared = await miss(a, b, 'shared', true);
    expect(shared.held.headers['x-cache']).toBe('MISS');
    expect(shared.waited!.headers['x-cache']).toBe('HIT');
    expect(origin.hits.get('/shared.png')).toBe(1);
    const waiting = shared.counted.total - alone.counted.total;
    const byCommand: Record<string, number> = {};
    for (const [name, count] of Object.entries(shared.counted.byCommand)) {
      const delta = count - (alone.counted.byCommand[name] ?? 0);
      if (delta !== 0) byCommand[name] = delta;
    }
    report('Redis commands of one request waiting 2 s for another instance', {
      waiting,
      byCommand,
      answeredAfterHolderMs: shared.lagMs,
    });
    // Its lookup (GET), the lock it could not take (SET NX), the lookup once woken (GET); telling Redis
    // that it waits (EVAL: PTTL, SET), again at each fallback check (every second: WAIT_FALLBACK_MS) in
    // case the wake-up were lost. The holder's release PUBLISHes once, as there was a waiter.
    const { eval: checks, ...rest } = byCommand;
    expect(rest).toEqual({ get: 2, set: 1 + checks, pttl: checks, publish: 1 });
    expect(checks).toBeGreaterThanOrEqual(1);
    // Polling every 25 ms (a GET and a SET NX each time) would have cost Redis 160 commands or more.
    expect(waiting).toBeLessThan((2 * 2000) / 25);
  });

  it('needs nothing beyond the minimal ACL of the README (the wake-up is PUBLISHed by the release script)', async () => {
    // The README's "Minimal Redis ACL", for the prefix ft5_ (test/redis-misconfig.e2e-spec.ts checks the rest).
    const commands = ['get', 'set', 'pttl', 'smembers', 'sadd', 'pexpire', 'del', 'multi', 'exec', 'eval'];
    await redis.client.call(
      'ACL',
      'SETUSER',
      'ft5_user',
      'reset',
      'on',
      '>ft5-pass',
      'resetkeys',
      '~ft5_*',
      'resetchannels',
      '&ft5_invalidate',
      '-@all',
      ...[...commands, 'publish', 'subscribe', 'ping', 'info'].map((command) => `+${command}`),
    );
    await redis.client.call('ACL', 'LOG', 'RESET');
    const port = Number(new URL(redis.url).port);
    const as = { host: '127.0.0.1', port, username: 'ft5_user', password: 'ft5-pass' };
    const [a, b] = [
      await startApp('ft5_', { redis: as, requireCache: true, allowRedraw: true }),
      await startApp('ft5_', { redis: as, requireCache: true }),
    ];
    const listener = await countMessages('ft5_invalidate');
    const { held, waited } = await miss(a, b, 'acl', true);
    expect([held.headers['x-cache'], waited!.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    expect(origin.hits.get('/acl.png')).toBe(1);
    // A replacement, and a purge.
    expect((await get(a, '/logo/acl.png?redraw=1')).headers['x-cache']).toBe('BYPASS');
    expect(await b.get(ImageResizeService).purge('logo_acl.png')).toBe(1);
    await until('the purge announced', () => listener.count === 3);
    await listener.close();
    expect(await redis.client.call('ACL', 'LOG')).toEqual([]);
    await redis.client.call('ACL', 'DELUSER', 'ft5_user');
  });

  it('takes over when the holder gives up without a result', async () => {
    const [a, b] = [await startApp('ft4_'), await startApp('ft4_')];
    let calls = 0;
    origin.routes.set('/flaky.png', (_req, res) => {
      calls += 1;
      if (calls === 1) setTimeout(() => res.writeHead(500).end('no'), 1000);
      else res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
    });
    const holder = get(a, '/logo/flaky.png');
    await until('the holder fetches', () => calls === 1, 5000, 5);
    const waiter = get(b, '/logo/flaky.png');
    const [held, waited] = await Promise.all([holder, waiter]);
    expect(held.status).toBeGreaterThanOrEqual(500);
    expect(waited.status).toBe(200);
    expect(waited.headers['x-cache']).toBe('MISS');
    expect(calls).toBe(2);
  });
});
