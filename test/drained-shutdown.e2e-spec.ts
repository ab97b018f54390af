import { get as httpGet, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { type ImageResizeModuleOptions, ImageResizeModule, ImageResizeService } from 'nestjs-image-resize';
import type { ImageCache } from '../libs/image-resize/src/cache/image-cache.interface';
import { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { LOCK_TTL_MS, VariantStore } from '../libs/image-resize/src/cache/variant.store';
import { resolveImageResizeOptions } from '../libs/image-resize/src/options/image-resize.options';
import { transparentPng } from './support/fixtures';
import { type OriginHandler, startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController } from './support/test-app';
import { until } from './support/until';

/**
 * A rolling restart: an instance shut down (`app.close()`, what `enableShutdownHooks()` runs on
 * SIGTERM) while it makes misses finishes them, stores them and releases their locks before its Redis
 * connection closes; another instance then finds every image in the cache. A crashed instance's lock
 * lapses within seconds, since locks are short and renewed while their work runs.
 *
 * `DRAINED_SHUTDOWN_TIMINGS=1` prints what was measured.
 */

/** Misses in flight when the instance shuts down. */
const COUNT = 20;
/** How long the origin takes to answer, so that the misses are still in flight at shutdown. */
const ORIGIN_DELAY_MS = 2000;
const PREFIX = 'drain_';
const NAMES = Array.from({ length: COUNT }, (_, i) => `img-${i}.png`);
/** The key of the variant `/logo/<name>` makes (128x128 PNG, cacheKey `logo_<name>`). */
const keyOf = (name: string) => `${PREFIX}logo_${name}_128_128_png`;
const lockOf = (name: string) => `${keyOf(name)}#lock`;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Keeps what the app logs at warn and above. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(): void {}
  error(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** GETs `path` on its own connection; a connection cut before the answer is status 0. */
function get(app: INestApplication, path: string): Promise<Answer> {
  const { port } = app.getHttpServer().address() as AddressInfo;
  return new Promise<Answer>((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, agent: false }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  }).catch(() => ({ status: 0, headers: {}, body: Buffer.alloc(0) }));
}

const isPng = (answer: Answer) =>
  answer.status === 200 &&
  answer.headers['content-type'] === 'image/png' &&
  answer.body.subarray(0, 8).equals(PNG_SIGNATURE);

function report(facts: Record<string, unknown>): void {
  if (process.env.DRAINED_SHUTDOWN_TIMINGS) {
    process.stdout.write(`drained-shutdown: ${JSON.stringify(facts)}\n`);
  }
}

let redis: PrivateRedis;
let origin: TestOrigin;
/** What the origin saw in Redis under the lock of `crash.png` when the image was asked for. */
const lockSeenByOrigin: Array<string | null> = [];
const open = new Set<INestApplication>();

async function startApp(options: ImageResizeModuleOptions = {}, logger: LoggerService | false = false) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ImageResizeModule.forRoot({
        sources: LOOPBACK_ORIGIN,
        redis: redis.url,
        keyPrefix: PREFIX,
        ...options,
      }),
    ],
    controllers: [TestImagesController],
    providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.listen(0, '127.0.0.1');
  open.add(app);
  return app;
}

async function close(app: INestApplication): Promise<void> {
  open.delete(app);
  await app.close();
}

/** The lock keys of this file's variants left in Redis. */
async function lockKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.client.scan(cursor, 'MATCH', `${PREFIX}*#lock`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

beforeAll(async () => {
  redis = await startPrivateRedis();
  const logo = await transparentPng();
  const slow: OriginHandler = (_req, res) => {
    setTimeout(
      () => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': logo.length }).end(logo),
      ORIGIN_DELAY_MS,
    );
  };
  const routes: Record<string, OriginHandler> = Object.fromEntries(NAMES.map((name) => [`/${name}`, slow]));
  routes['/slow-job.png'] = slow;
  // Notes who holds the lock of the image when the origin is asked for it, then answers at once.
  routes['/crash.png'] = (_req, res) => {
    void redis.client.get(lockOf('crash.png')).then((holder) => {
      lockSeenByOrigin.push(holder);
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': logo.length }).end(logo);
    });
  };
  origin = await startOrigin(routes);
});

afterAll(async () => {
  await Promise.all([...open].map((app) => close(app)));
  await origin?.close();
  await redis?.stop();
});

describe('an instance shut down with misses in flight', () => {
  it('answers every request, stores every image and leaves no lock; another instance then hits', async () => {
    const a = await startApp();
    const answers = Promise.all(NAMES.map((name) => get(a, `/logo/${name}`)));
    // Every miss has reached the origin, which answers in ORIGIN_DELAY_MS: all of them are in flight.
    await until('every miss is at the origin', () =>
      NAMES.every((name) => origin.hits.get(`/${name}`) === 1),
    );
    await close(a);
    const responses = await answers;

    const served = responses.filter(isPng).length;
    const stored = (await Promise.all(NAMES.map((name) => redis.client.exists(keyOf(name))))).filter(
      (exists) => exists === 1,
    ).length;
    const leftLocks = await lockKeys();
    const lockTtls = await Promise.all(leftLocks.map((lock) => redis.client.pttl(lock)));

    const b = await startApp();
    const started = Date.now();
    const again = await Promise.all(NAMES.map((name) => get(b, `/logo/${name}`)));
    const bMs = Date.now() - started;
    report({
      scenario: 'shutdown with misses in flight',
      served,
      statuses: responses.map((res) => res.status),
      stored,
      leftLocks: leftLocks.length,
      maxLockTtlMs: Math.max(0, ...lockTtls),
      bCacheStatuses: again.map((res) => res.headers['x-cache']),
      bMs,
    });

    expect(responses.map((res) => res.status)).toEqual(NAMES.map(() => 200));
    expect(served).toBe(COUNT);
    expect(responses.every((res) => res.headers['x-cache'] === 'MISS')).toBe(true);
    expect(stored).toBe(COUNT);
    expect(leftLocks).toEqual([]);
    expect(again.every(isPng)).toBe(true);
    expect(again.map((res) => res.headers['x-cache'])).toEqual(NAMES.map(() => 'HIT'));
    // Each image was fetched once, by the instance that shut down.
    expect(NAMES.map((name) => origin.hits.get(`/${name}`))).toEqual(NAMES.map(() => 1));
    await close(b);
  });
});

describe('a crashed instance', () => {
  it("costs the others no more than its lock's short TTL: one of them takes the lock over and makes the image", async () => {
    const b = await startApp();
    // The dead instance: it takes the variant's lock as every instance does, starts making the image,
    // and crashes (its connection is gone: no renewal, no release).
    const deadClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    deadClient.on('error', () => undefined);
    await until('the dead instance is connected', () => deadClient.status === 'ready');
    const dead = new VariantStore(
      new RedisImageCache(deadClient),
      resolveImageResizeOptions({ redis: redis.url }),
    );
    let endDeadWork = () => undefined as void;
    const deadWork = dead.once(
      { key: keyOf('crash.png'), group: `${PREFIX}logo_crash.png#variants`, lock: lockOf('crash.png') },
      () => new Promise<void>((resolve) => (endDeadWork = resolve)),
      () => undefined,
    );
    await until(
      'the dead instance holds the lock',
      async () => (await redis.client.exists(lockOf('crash.png'))) === 1,
    );
    const deadToken = await redis.client.get(lockOf('crash.png'));
    const deadLockTtlMs = await redis.client.pttl(lockOf('crash.png'));
    deadClient.disconnect();

    const started = Date.now();
    const answer = await get(b, '/logo/crash.png');
    const takeOverMs = Date.now() - started;
    report({ scenario: 'crashed lock holder', deadLockTtlMs, takeOverMs });

    expect(isPng(answer)).toBe(true);
    expect(answer.headers['x-cache']).toBe('MISS');
    // B asked the origin once, and only once it held the lock itself: the dead one had lapsed.
    expect(origin.hits.get('/crash.png')).toBe(1);
    expect(lockSeenByOrigin).toHaveLength(1);
    expect(lockSeenByOrigin[0]).not.toBeNull();
    expect(lockSeenByOrigin[0]).not.toBe(deadToken);
    expect(await redis.client.exists(keyOf('crash.png'))).toBe(1);
    expect(await lockKeys()).toEqual([]);
    await close(b);
    endDeadWork();
    await deadWork;
  });
});

describe('a shutdown that cannot wait for its misses', () => {
  it('goes on after shutdownDrainMs, says how many misses it left, and releases their locks', async () => {
    const logger = new CapturingLogger();
    const a = await startApp({ shutdownDrainMs: 100 }, logger);
    let settled = false;
    const miss = a
      .get(ImageResizeService)
      .resize(
        { url: `${origin.url}/slow-job.png`, cacheKey: 'job' },
        { width: 64, height: 64, format: 'png' },
      )
      .then(
        () => 'made',
        () => 'failed',
      )
      .finally(() => (settled = true));
    await until('the miss is at the origin', () => origin.hits.get('/slow-job.png') === 1);
    expect(await redis.client.exists(`${PREFIX}job_64_64_png#lock`)).toBe(1);

    await close(a);
    // The shutdown did not wait for the origin's answer, and gave the miss's lock back.
    expect(settled).toBe(false);
    expect(logger.lines).toContainEqual(
      expect.stringMatching(/^Shutting down with 1 miss still being made after shutdownDrainMs \(100 ms\)/),
    );
    expect(await lockKeys()).toEqual([]);
    await miss;
  });
});

describe('the lock of a variant being made', () => {
  const options = resolveImageResizeOptions({ redis: 'redis://127.0.0.1:6379' });
  const ref = {
    key: `${PREFIX}unit_1_1_png`,
    group: `${PREFIX}unit#variants`,
    lock: `${PREFIX}unit_1_1_png#lock`,
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let client: Redis;
  let cache: RedisImageCache;
  beforeAll(async () => {
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await until('client ready', () => client.status === 'ready');
    cache = new RedisImageCache(client);
  });
  afterAll(() => client.disconnect());

  it('is taken short and renewed while its work runs longer than that, then released', async () => {
    const ttlMs = 1500;
    const store = new VariantStore(cache, options, ttlMs);
    const seen = await store.once(
      ref,
      async () => {
        const first = await redis.client.pttl(ref.lock);
        await sleep(2 * ttlMs);
        return { first, holder: await redis.client.get(ref.lock), later: await redis.client.pttl(ref.lock) };
      },
      () => undefined,
    );
    expect(seen?.first).toBeGreaterThan(0);
    expect(seen?.first).toBeLessThanOrEqual(ttlMs);
    // Past twice its TTL, the lock is still this work's: it was renewed, and for no longer than its TTL.
    expect(seen?.holder).not.toBeNull();
    expect(seen?.later).toBeGreaterThan(0);
    expect(seen?.later).toBeLessThanOrEqual(ttlMs);
    expect(await redis.client.exists(ref.lock)).toBe(0);
  });

  it("goes on with its work when the lock is lost, and leaves the new holder's lock alone", async () => {
    const ttlMs = 600;
    const store = new VariantStore(cache, options, ttlMs);
    const made = await store.once(
      ref,
      async () => {
        // The lock lapses (a long pause, say) and another instance takes it.
        await redis.client.set(ref.lock, 'other-instance', 'PX', 10_000);
        await sleep(2 * ttlMs);
        return 'made';
      },
      () => 'found',
    );
    expect(made).toBe('made');
    expect(await redis.client.get(ref.lock)).toBe('other-instance');
    expect(await redis.client.pttl(ref.lock)).toBeGreaterThan(ttlMs);
    await redis.client.del(ref.lock);
  });

  it('is taken for the whole wait by a cache that cannot renew locks', async () => {
    const plain: ImageCache = {
      get: (key, at) => cache.get(key, at),
      set: (at, image, ttl) => cache.set(at, image, ttl),
      purge: (group) => cache.purge(group),
      tryLock: (key, ttl) => cache.tryLock(key, ttl),
      unlock: (key, token) => cache.unlock(key, token),
    };
    const store = new VariantStore(plain, options);
    const pttl = await store.once(
      ref,
      () => redis.client.pttl(ref.lock),
      () => 0,
    );
    expect(pttl).toBeGreaterThan(LOCK_TTL_MS);
    expect(pttl).toBeLessThanOrEqual(options.fetchTimeoutMs + options.processingTimeoutMs + 1000);
    expect(await redis.client.exists(ref.lock)).toBe(0);
  });
});
