import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, Get, type INestApplication, type LoggerService, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Cluster, Redis } from 'ioredis';
import {
  IMAGE_RESIZE_CACHE,
  ImageResizeMetrics,
  type ImageResizeModuleOptions,
  ImageResizeModule,
  ImageResizeService,
  ResizedImage,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import type { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedisCluster, type TestRedisCluster } from './support/redis-cluster';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN } from './support/test-app';
import { until } from './support/until';

/** Seconds after which the originals of these tests are due for a check (module option). */
const REVALIDATE_AFTER = 4;
/** The three variants of every logo: one cacheKey, three sizes. */
const VARIANTS = ['small', 'medium', 'large'] as const;

/** One original on the test origin, which counts what it is asked and can change, vanish or fail. */
interface Original {
  body: Buffer;
  etag: string;
  /** `up`: 200, or 304 for a matching `If-None-Match`; `gone`: 404; `down`: the connection is cut. */
  mode: 'up' | 'gone' | 'down';
  /** The `Cache-Control` max-age it sends. */
  maxAge: number;
  /** How long a conditional request waits for its answer (so that the stale answer comes first). */
  conditionalDelayMs: number;
  /** Requests without `If-None-Match`. */
  full: number;
  /** The `If-None-Match` of each conditional request. */
  conditional: string[];
}

let origin: TestOrigin;
const originals = new Map<string, Original>();
let red: Buffer;
let blue: Buffer;

function answer(original: Original, req: IncomingMessage, res: ServerResponse): void {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch === undefined) original.full += 1;
  else original.conditional.push(ifNoneMatch);
  if (original.mode === 'down') {
    req.socket.destroy();
    return;
  }
  if (original.mode === 'gone') {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  const headers = {
    ETag: original.etag,
    'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
    'Cache-Control': `public, max-age=${original.maxAge}`,
  };
  if (ifNoneMatch === original.etag) {
    setTimeout(() => res.writeHead(304, headers).end(), original.conditionalDelayMs);
    return;
  }
  const send = () =>
    res
      .writeHead(200, { ...headers, 'Content-Type': 'image/png', 'Content-Length': original.body.length })
      .end(original.body);
  if (ifNoneMatch === undefined) send();
  else setTimeout(send, original.conditionalDelayMs);
}

/** A new original named `name` on the origin, red, with ETag "v1". */
function addOriginal(name: string, extra: Partial<Original> = {}): Original {
  const original: Original = {
    body: red,
    etag: '"v1"',
    mode: 'up',
    maxAge: 60,
    conditionalDelayMs: 500,
    full: 0,
    conditional: [],
    ...extra,
  };
  originals.set(name, original);
  origin.routes.set(`/${name}.png`, (req, res) => answer(original, req, res));
  return original;
}

const source = (name: string) => ({ url: `${origin.url}/${name}.png`, cacheKey: `logo_${name}` });

@Controller()
class LogoController {
  @Get('small/:name')
  @ResizedImage({ width: 32, height: 32, format: 'png' })
  small(@Param('name') name: string) {
    return source(name);
  }

  @Get('medium/:name')
  @ResizedImage({ width: 48, height: 48, format: 'png' })
  medium(@Param('name') name: string) {
    return source(name);
  }

  @Get('large/:name')
  @ResizedImage({ width: 64, height: 64, format: 'png' })
  large(@Param('name') name: string) {
    return source(name);
  }

  /** The route's own revalidateAfter wins over the module's. */
  @Get('quick/:name')
  @ResizedImage({ width: 40, height: 40, format: 'png', revalidateAfter: 6 })
  quick(@Param('name') name: string) {
    return source(name);
  }

  /** The origin's longer max-age puts the check off. */
  @Get('trusting/:name')
  @ResizedImage({ width: 40, height: 40, format: 'png', originMaxAge: 'longer-wins' })
  trusting(@Param('name') name: string) {
    return source(name);
  }

  @Get('never/:name')
  @ResizedImage({ width: 40, height: 40, format: 'png', revalidateAfter: false })
  never(@Param('name') name: string) {
    return source(name);
  }
}

/** What the apps log at warn and above (Nest's logger is one for the process: shared by both apps). */
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
const logger = new CapturingLogger();

/** Resizes made, over every app started here. */
let resized = 0;

async function startApp(options: ImageResizeModuleOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN, revalidateAfter: REVALIDATE_AFTER, ...options }),
    ],
    controllers: [LogoController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  app.get(ImageResizeMetrics).subscribe((event) => {
    if (event.type === 'resized') resized += 1;
  });
  return app;
}

async function tiersUp(apps: INestApplication[]): Promise<void> {
  const tier = (app: INestApplication) => app.get<RedisImageCache>(IMAGE_RESIZE_CACHE).hot as HotImageTier;
  await until('the hot tiers subscribe', async () => apps.every((app) => tier(app).active));
}

interface Answer {
  status: number;
  etag?: string;
  cache?: string;
  maxAge: number;
  body: Buffer;
}

async function get(app: INestApplication, path: string): Promise<Answer> {
  const res = await request(app.getHttpServer()).get(path).buffer(true).parse(binary);
  const cacheControl = String(res.headers['cache-control'] ?? '');
  return {
    status: res.status,
    etag: res.headers.etag,
    cache: res.headers['x-cache'],
    maxAge: Number(/max-age=(\d+)/.exec(cacheControl)?.[1] ?? NaN),
    body: res.body as Buffer,
  };
}

/** Every variant of `name` on every app, at once; in the order app by app, variant by variant. */
function everyVariant(apps: INestApplication[], name: string): Promise<Answer[]> {
  return Promise.all(apps.flatMap((app) => VARIANTS.map((variant) => get(app, `/${variant}/${name}`))));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The colour of the first pixel of a PNG, as [r, g, b]. */
async function colourOf(png: Buffer): Promise<number[]> {
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return [data[0], data[1], data[2]];
}

interface StoredRecord {
  checkedAt: number;
  etag?: string;
  failures?: number;
  retryAt?: number;
}

beforeAll(async () => {
  const square = (background: string) =>
    sharp({ create: { width: 200, height: 200, channels: 3, background } })
      .png()
      .toBuffer();
  [red, blue] = await Promise.all([square('#ff0000'), square('#0000ff')]);
  origin = await startOrigin();
});
afterAll(async () => origin?.close());

describe('revalidation with two instances on one Redis', () => {
  let redis: PrivateRedis;
  const apps: INestApplication[] = [];
  const PREFIX = 'reval_';

  beforeAll(async () => {
    redis = await startPrivateRedis();
    for (let i = 0; i < 2; i++) apps.push(await startApp({ redis: redis.url, keyPrefix: PREFIX }));
    await tiersUp(apps);
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await redis?.stop();
  });

  const recordOf = async (name: string): Promise<StoredRecord | undefined> => {
    const text = await redis.client.get(`${PREFIX}logo_${name}#origin`);
    return text ? (JSON.parse(text) as StoredRecord) : undefined;
  };

  /** Sleeps until the original of `name` is due (from the record every instance reads). */
  async function waitUntilDue(name: string): Promise<StoredRecord> {
    const record = await recordOf(name);
    if (!record) throw new Error(`no origin record for ${name}`);
    const dueAt = Math.max(record.checkedAt + REVALIDATE_AFTER * 1000, record.retryAt ?? 0);
    await sleep(Math.max(0, dueAt - Date.now()) + 150);
    return record;
  }

  /** Every variant of `name` made once (three loads, three resizes) and served by both instances. */
  async function warm(name: string, original: Original): Promise<Map<string, string>> {
    const resizedBefore = resized;
    const etags = new Map<string, string>();
    for (const variant of VARIANTS) {
      for (const app of apps) {
        const answer = await get(app, `/${variant}/${name}`);
        expect(answer.status).toBe(200);
        etags.set(variant, answer.etag as string);
      }
    }
    expect(original.full).toBe(3);
    expect(original.conditional).toEqual([]);
    expect(resized - resizedBefore).toBe(3);
    return etags;
  }

  it('serves a changed logo stale once, then new everywhere, after ONE conditional request', async () => {
    const original = addOriginal('changing');
    const before = await warm('changing', original);
    expect((await recordOf('changing'))?.etag).toBe('"v1"');

    original.body = blue;
    original.etag = '"v2"';
    await waitUntilDue('changing');
    const resizedBefore = resized;

    const stale = await get(apps[0], '/small/changing');
    expect(stale).toMatchObject({ status: 200, cache: 'HIT', etag: before.get('small'), maxAge: 0 });
    expect(await colourOf(stale.body)).toEqual([255, 0, 0]);
    // Meanwhile every variant is served on both instances, stale or already new, never an error. A
    // request that reaches the checking instance while its purge is on the way to Redis is served
    // uncached (BYPASS: it reads nothing of the group then), at the cost of a load and a resize.
    let uncached = 0;
    const answers = async () => {
      const all = await everyVariant(apps, 'changing');
      uncached += all.filter((answer) => answer.cache === 'BYPASS').length;
      return all;
    };
    for (const answer of await answers()) expect(answer.status).toBe(200);

    await until('every variant is new on both instances', async () =>
      (await answers()).every(
        (answer, i) => answer.status === 200 && answer.etag !== before.get(VARIANTS[i % 3]),
      ),
    );
    // One conditional request for the old version, from one instance, for the three variants.
    expect(original.conditional.filter((tag) => tag === '"v1"')).toHaveLength(1);
    // Each variant is remade once, from one full request (and an uncached answer may have made its own).
    expect(original.full).toBeGreaterThanOrEqual(3 + 3);
    expect(original.full).toBeLessThanOrEqual(3 + 3 + uncached);
    expect(resized - resizedBefore).toBeGreaterThanOrEqual(3);
    expect(resized - resizedBefore).toBeLessThanOrEqual(3 + uncached);
    // Kept by clients until the next check again (an instance that saw the check made elsewhere goes
    // by the record it read last for up to a second, and says 0 meanwhile).
    let fresh = await get(apps[1], '/large/changing');
    await until('the other instance says fresh', async () => {
      fresh = await get(apps[1], '/large/changing');
      return fresh.maxAge > 0;
    });
    expect(fresh.cache).toBe('HIT');
    expect(fresh.maxAge).toBeLessThanOrEqual(REVALIDATE_AFTER);
    expect(await colourOf(fresh.body)).toEqual([0, 0, 255]);
    expect((await recordOf('changing'))?.etag).toBe('"v2"');
  });

  it('keeps every variant, without a resize, when the origin answers 304', async () => {
    const original = addOriginal('steady');
    const before = await warm('steady', original);
    const dueRecord = await waitUntilDue('steady');
    const resizedBefore = resized;

    const stale = await get(apps[1], '/medium/steady');
    expect(stale).toMatchObject({ status: 200, cache: 'HIT', etag: before.get('medium'), maxAge: 0 });
    for (const answer of await everyVariant(apps, 'steady')) expect(answer.status).toBe(200);
    await until(
      'the record says checked',
      async () => (await recordOf('steady'))!.checkedAt > dueRecord.checkedAt,
    );

    expect(original.conditional).toEqual(['"v1"']);
    expect(original.full).toBe(3);
    expect(resized - resizedBefore).toBe(0);
    // Fresh again everywhere: the same bytes, kept by clients until the next check.
    await until('both instances say fresh', async () =>
      (await everyVariant(apps, 'steady')).every(
        (answer, i) =>
          answer.cache === 'HIT' && answer.etag === before.get(VARIANTS[i % 3]) && answer.maxAge > 0,
      ),
    );
    expect(resized - resizedBefore).toBe(0);
  });

  it('purges the variants of a logo that the origin answers 404 for', async () => {
    const original = addOriginal('vanishing');
    await warm('vanishing', original);
    await waitUntilDue('vanishing');
    original.mode = 'gone';

    const stale = await get(apps[0], '/large/vanishing');
    expect(stale).toMatchObject({ status: 200, cache: 'HIT', maxAge: 0 });
    const keys = VARIANTS.map((_, i) => `${PREFIX}logo_vanishing_${[32, 48, 64][i]}_${[32, 48, 64][i]}_png`);
    expect(await redis.client.exists(...keys)).toBe(3);
    await until('the variants are purged', async () => (await redis.client.exists(...keys)) === 0);
    expect(await redis.client.exists(`${PREFIX}logo_vanishing#variants`)).toBe(0);
    expect(original.conditional).toEqual(['"v1"']);

    // Both instances answer 404 now (the other one once the purge is announced): each 404 is one
    // unconditional request, since a failure is not cached, and no other check is made.
    const fullBefore = original.full;
    let notFound = 0;
    await until('both instances answer 404', async () => {
      const answers = await everyVariant(apps, 'vanishing');
      notFound += answers.filter((answer) => answer.status === 404).length;
      return answers.every((answer) => answer.status === 404);
    });
    expect(original.full - fullBefore).toBe(notFound);
    expect(original.conditional).toEqual(['"v1"']);
  });

  it('serves stale while the origin is down, logs it once, and retries after the back-off', async () => {
    const original = addOriginal('flaky');
    const before = await warm('flaky', original);
    await waitUntilDue('flaky');
    original.mode = 'down';
    logger.lines.length = 0;

    const stale = await get(apps[0], '/small/flaky');
    expect(stale).toMatchObject({ status: 200, cache: 'HIT', etag: before.get('small'), maxAge: 0 });
    await until('the failed check is recorded', async () => (await recordOf('flaky'))?.failures === 1);
    expect(original.conditional).toEqual(['"v1"']);
    const failed = (await recordOf('flaky'))!;
    // The back-off: 60 s at first, never longer than revalidateAfter.
    expect(failed.retryAt! - Date.now()).toBeLessThanOrEqual(REVALIDATE_AFTER * 1000);

    // Within the back-off: stale everywhere, kept by clients until the next attempt, origin not asked.
    const during = await everyVariant(apps, 'flaky');
    during.forEach((answer, i) => {
      expect(answer).toMatchObject({ status: 200, cache: 'HIT', etag: before.get(VARIANTS[i % 3]) });
      expect(answer.maxAge).toBeLessThanOrEqual(REVALIDATE_AFTER);
    });
    expect(original.conditional).toEqual(['"v1"']);
    const warnings = logger.lines.filter((line) => line.includes('revalidate'));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^Could not revalidate image logo_flaky with its origin, serving its cached variants: 502 /,
      ),
    ]);
    expect(warnings[0]).not.toMatch(/127\.0\.0\.1|flaky\.png/);

    // Back up: the first request past the back-off makes the next check, which finds it unchanged.
    original.mode = 'up';
    await sleep(Math.max(0, failed.retryAt! - Date.now()) + 150);
    const retried = await get(apps[1], '/medium/flaky');
    expect(retried).toMatchObject({ status: 200, cache: 'HIT', etag: before.get('medium'), maxAge: 0 });
    await until('the check succeeds', async () => {
      const record = await recordOf('flaky');
      return record !== undefined && record.failures === undefined && record.checkedAt > failed.checkedAt;
    });
    expect(original.conditional).toEqual(['"v1"', '"v1"']);
    expect(original.full).toBe(3);
    expect(logger.lines.filter((line) => line.includes('revalidate'))).toHaveLength(1);
  });

  it('sends a max-age that shrinks as the check approaches (the route sets revalidateAfter)', async () => {
    const original = addOriginal('ticking');
    const miss = await get(apps[0], '/quick/ticking');
    // The route's revalidateAfter (6), below the ttl (30 days) and over the module's (4).
    expect(miss).toMatchObject({ status: 200, cache: 'MISS', maxAge: 6 });
    await sleep(1200);
    const seen: number[] = [];
    await until('max-age reaches 0', async () => {
      const answer = await get(apps[0], '/quick/ticking');
      expect(answer).toMatchObject({ status: 200, cache: 'HIT', etag: miss.etag });
      seen.push(answer.maxAge);
      return answer.maxAge === 0;
    });
    expect(seen[0]).toBeLessThan(6);
    expect(seen).toEqual([...seen].sort((a, b) => b - a)); // never grows while the check approaches
    expect(original.conditional.length).toBeLessThanOrEqual(1);
    await until(
      'max-age grows again after the check',
      async () => (await get(apps[0], '/quick/ticking')).maxAge > 0,
    );
    expect(original.conditional).toEqual(['"v1"']);
    expect(original.full).toBe(1);
  });

  it('lets a longer origin max-age win where a route says so, and never checks with revalidateAfter: false', async () => {
    const trusted = addOriginal('trusted', { maxAge: 600 });
    expect(await get(apps[0], '/trusting/trusted')).toMatchObject({
      status: 200,
      cache: 'MISS',
      maxAge: 600,
    });
    // The same original through a route that ignores the origin's max-age: the module's revalidateAfter.
    const ignoring = await get(apps[0], '/small/trusted');
    expect(ignoring.maxAge).toBeLessThanOrEqual(REVALIDATE_AFTER);
    expect(trusted.full).toBe(2);

    const plain = addOriginal('plain');
    expect(await get(apps[0], '/never/plain')).toMatchObject({
      status: 200,
      cache: 'MISS',
      maxAge: 2_592_000,
    });
    expect(await redis.client.exists(`${PREFIX}logo_plain#origin`)).toBe(0);
    await sleep(REVALIDATE_AFTER * 1000 + 150);
    expect(await get(apps[1], '/never/plain')).toMatchObject({
      status: 200,
      cache: 'HIT',
      maxAge: 2_592_000,
    });
    await sleep(300);
    expect(plain.conditional).toEqual([]);
    expect(plain.full).toBe(1);
  });
});

describe('revalidation on a Redis Cluster (three masters)', () => {
  let cluster: TestRedisCluster;
  const apps: INestApplication[] = [];
  const PREFIX = 'revalc_';

  beforeAll(async () => {
    cluster = await startTestRedisCluster();
    for (let i = 0; i < 2; i++) {
      apps.push(await startApp({ redis: { cluster: cluster.nodes }, keyPrefix: PREFIX }));
    }
    await tiersUp(apps);
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await cluster?.stop();
  });

  it('makes one check for two instances and three variants, and serves the new logo after', async () => {
    const client: Cluster | Redis = cluster.client;
    const recordKey = `${PREFIX}{logo_clustered}#origin`;
    const original = addOriginal('clustered');
    const before = new Map<string, string>();
    for (const variant of VARIANTS) {
      for (const app of apps) before.set(variant, (await get(app, `/${variant}/clustered`)).etag as string);
    }
    expect(original.full).toBe(3);
    const record = JSON.parse((await client.get(recordKey)) as string) as StoredRecord;
    original.body = blue;
    original.etag = '"v2"';
    await sleep(Math.max(0, record.checkedAt + REVALIDATE_AFTER * 1000 - Date.now()) + 150);

    const stale = await everyVariant(apps, 'clustered');
    stale.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(answer.etag).toBe(before.get(VARIANTS[i % 3]));
    });
    await until('every variant is new on both instances', async () =>
      (await everyVariant(apps, 'clustered')).every(
        (answer, i) => answer.status === 200 && answer.etag !== before.get(VARIANTS[i % 3]),
      ),
    );
    expect(original.conditional.filter((tag) => tag === '"v1"')).toHaveLength(1);
    expect(original.full).toBe(3 + 3);
    expect((JSON.parse((await client.get(recordKey)) as string) as StoredRecord).etag).toBe('"v2"');
  });
});

describe('revalidation of a path source with a cacheKey (in-memory cache)', () => {
  let app: INestApplication;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'revalidate-'));
    app = await startApp({});
  });
  afterAll(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('compares size and mtime, keeps an unchanged file without a resize, and remakes a changed one', async () => {
    const service = app.get(ImageResizeService);
    const path = join(dir, 'logo.png');
    await writeFile(path, red);
    const spec = { width: 24, height: 24, revalidateAfter: 2 };
    const resize = () => service.resize({ path, cacheKey: 'file_logo' }, spec);
    const first = await resize();
    expect([first.cacheStatus, first.ttl]).toEqual(['MISS', 2]);
    const resizedBefore = resized;

    // Unchanged: due, served at once, then fresh again without a read or a resize.
    await sleep(2150);
    expect(await resize()).toMatchObject({ cacheStatus: 'HIT', ttl: 0, etag: first.etag });
    await until('fresh again', async () => (await resize()).ttl > 0);
    expect(resized - resizedBefore).toBe(0);

    // Changed: served stale once, then remade from the new file.
    await writeFile(path, blue);
    await sleep(2150);
    expect(await resize()).toMatchObject({ cacheStatus: 'HIT', ttl: 0, etag: first.etag });
    await until('remade', async () => (await resize()).etag !== first.etag);
    expect(resized - resizedBefore).toBe(1);
    expect(await colourOf((await resize()).body)).toEqual([0, 0, 255]);
  });
});
