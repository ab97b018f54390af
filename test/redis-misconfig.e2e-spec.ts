import { type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  IMAGE_RESIZE_CACHE,
  ImageResizeConfigError,
  ImageResizeError,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ImageResizeService,
} from 'nestjs-image-resize';
import request from 'supertest';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { freePort, startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController, UploadController } from './support/test-app';
import { startTlsPort, type TestTlsPort } from './support/tls-server';
import { until } from './support/until';

/**
 * A Redis the application cannot use — a wrong password, TLS on one side only, an ACL user that lacks
 * a command — is never silent: without `requireCache` the app boots, serves images uncached and logs
 * the problem once with its kind (which health shows too); with it, boot fails and says what to fix.
 * And the minimal ACL that the README lists is enough for everything the cache does.
 */

/**
 * The minimal ACL of the README, for the key prefix `prefix` (the README shows it for the default
 * prefix `image_resize_`): the commands the cache sends, its keys, and its invalidation channel.
 */
const minimalAcl = (prefix: string) => [
  'resetkeys',
  `~${prefix}*`,
  'resetchannels',
  `&${prefix}invalidate`,
  '-@all',
  ...MINIMAL_COMMANDS.map((command) => `+${command}`),
];
const MINIMAL_COMMANDS = [
  ...['get', 'set', 'pttl', 'smembers', 'sadd', 'pexpire', 'del', 'multi', 'exec', 'eval'],
  ...['publish', 'subscribe', 'ping'],
  // Not needed by the cache: ioredis's ready check (it waits while Redis loads its data), which
  // ioredis skips with a console warning when INFO is refused.
  'info',
];

/** Keeps what the app logs, with the level. */
class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string }> = [];
  private record(level: string) {
    return (message: unknown) => void this.lines.push({ level, message: String(message) });
  }
  log = this.record('log');
  error = this.record('error');
  warn = this.record('warn');
  debug = this.record('debug');
  verbose = this.record('verbose');

  matching(pattern: RegExp): string[] {
    return this.lines.map((line) => line.message).filter((message) => pattern.test(message));
  }
  get text(): string {
    return JSON.stringify(this.lines);
  }
}

let origin: TestOrigin;
let redis: PrivateRedis;
let redisPort: number;
const apps: INestApplication[] = [];

beforeAll(async () => {
  origin = await startOrigin({ '/logo.png': { contentType: 'image/png', body: await transparentPng() } });
  redis = await startPrivateRedis();
  redisPort = Number(new URL(redis.url).port);
});
afterAll(async () => {
  await origin.close();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Creates (or resets) the ACL user `name` with password `password` and `rules`. */
async function aclUser(name: string, password: string, rules: string[]): Promise<void> {
  await redis.client.call('ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, ...rules);
}

/** Connection options for `username` on the private Redis. */
const as = (username: string, password: string) => ({
  host: '127.0.0.1',
  port: redisPort,
  username,
  password,
});

/** Boots an app on `options`; resolves to it, or to the error that stopped the boot. */
async function boot(
  options: ImageResizeModuleRootOptions,
  logger: RecordingLogger = new RecordingLogger(),
): Promise<{ app?: INestApplication; error?: Error }> {
  try {
    // The Redis connection is made while the module is compiled: the logger is set before that.
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN, ...options })],
      controllers: [TestImagesController, UploadController],
      providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
    })
      .setLogger(logger)
      .compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.init();
    apps.push(app);
    return { app };
  } catch (error) {
    return { error: error as Error };
  }
}

async function bootOrFail(options: ImageResizeModuleRootOptions, logger?: RecordingLogger) {
  const { app, error } = await boot(options, logger);
  if (!app) throw error;
  return app;
}

async function refusal(options: ImageResizeModuleRootOptions): Promise<Error> {
  const { app, error } = await boot(options);
  if (app) throw new Error('expected the boot to fail');
  return error as Error;
}

const cacheOf = (app: INestApplication) => app.get<RedisImageCache>(IMAGE_RESIZE_CACHE);
const get = (app: INestApplication, path = '/logo/logo.png') =>
  request(app.getHttpServer()).get(path).buffer(true).parse(binary);

/** How many times Redis refused `username`'s credentials, from its ACL LOG. */
async function authFailures(username: string): Promise<number> {
  const entries = (await redis.client.call('ACL', 'LOG')) as unknown[][];
  return entries
    .map((entry) => {
      const fields = new Map<string, unknown>();
      for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
      return fields;
    })
    .filter((fields) => fields.get('reason') === 'auth' && fields.get('username') === username)
    .reduce((sum, fields) => sum + Number(fields.get('count')), 0);
}

/** What ACL LOG holds for `username`: each refusal's reason and object (a command, key or channel). */
async function aclRefusals(username: string): Promise<string[]> {
  const entries = (await redis.client.call('ACL', 'LOG')) as unknown[][];
  return entries
    .map((entry) => {
      const fields = new Map<string, unknown>();
      for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
      return fields;
    })
    .filter((fields) => fields.get('username') === username)
    .map((fields) => `${String(fields.get('reason'))} ${String(fields.get('object'))}`);
}

/** Neither the password nor the port of Redis is in `text`. */
function expectNoSecretOrAddress(text: string, password: string): void {
  expect(text).not.toContain(password);
  expect(text).not.toMatch(new RegExp(`\\b${redisPort}\\b`));
  expect(text).not.toMatch(/127\.0\.0\.1/);
}

describe('a wrong password', () => {
  beforeAll(async () => aclUser('pw_user', 'right-pass', minimalAcl('pw_')));

  it('fails the boot with requireCache, saying what to fix', async () => {
    const error = await refusal({ redis: as('pw_user', 'wrong-pass'), keyPrefix: 'pw_', requireCache: true });
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error.message).toMatch(
      /^ImageResizeModule: Redis cannot be used \(auth\): Redis refused the username or password \(WRONGPASS\): check them in option "redis"/,
    );
    expect(error.message).toMatch(/option "requireCache"/);
    expectNoSecretOrAddress(error.message, 'wrong-pass');
  });

  it('without requireCache: boots, serves images uncached, logs it once as auth, and shows it until it is fixed', async () => {
    await redis.client.call('ACL', 'LOG', 'RESET');
    const logger = new RecordingLogger();
    const app = await bootOrFail({ redis: as('pw_user', 'wrong-pass'), keyPrefix: 'pw_' }, logger);
    for (let i = 0; i < 2; i++) {
      const res = await get(app);
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('BYPASS');
    }
    // ioredis tries again and again: the problem is logged once all the same.
    await until('Redis refused three attempts', async () => (await authFailures('pw_user')) >= 3);
    expect(logger.matching(/^Redis/)).toEqual([
      'Redis unavailable, serving images without the cache (auth): Redis refused the username or password (WRONGPASS): check them in option "redis"',
    ]);
    expect(cacheOf(app).state()).toMatchObject({
      up: false,
      problem: {
        kind: 'auth',
        message: 'Redis refused the username or password (WRONGPASS): check them in option "redis"',
      },
    });
    const health = await app.get(ImageResizeService).health();
    expect(health).toMatchObject({ cacheUp: false, cacheProblem: { kind: 'auth' } });
    expectNoSecretOrAddress(logger.text, 'wrong-pass');

    // The operator gives the user that password: the problem clears and caching resumes.
    await redis.client.call('ACL', 'SETUSER', 'pw_user', '>wrong-pass');
    try {
      await until('Redis answers', () => cacheOf(app).state().up);
      expect(cacheOf(app).state().problem).toBeUndefined();
      expect(logger.matching(/Redis available again/)).toHaveLength(1);
      expect((await get(app)).headers['x-cache']).toBe('MISS');
      expect((await get(app)).headers['x-cache']).toBe('HIT');
    } finally {
      await redis.client.call('ACL', 'SETUSER', 'pw_user', '<wrong-pass');
    }
  });
});

describe('an ACL user that lacks commands', () => {
  it('fails the boot with requireCache, naming every command, key and channel refused', async () => {
    // A common "read and write" user: no scripts, no transactions, no pub/sub, no PING.
    await aclUser('rw_user', 'rw-pass', ['resetkeys', '~rw_*', 'resetchannels', '+@read', '+@write']);
    const error = await refusal({ redis: as('rw_user', 'rw-pass'), keyPrefix: 'rw_', requireCache: true });
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error.message).toBe(
      'ImageResizeModule: Redis cannot be used (permission): the Redis user may not run PING, MULTI, EXEC, EVAL, PUBLISH and SUBSCRIBE (NOPERM): grant them in its ACL (see "Minimal Redis ACL" in the README); option "requireCache" stops the boot when Redis cannot be used',
    );
    // The check left nothing behind.
    expect(await redis.client.keys('rw_*')).toEqual([]);
  });

  it('names the keys when the key pattern does not cover the prefix', async () => {
    await aclUser('kp_user', 'kp-pass', minimalAcl('other_'));
    const error = await refusal({ redis: as('kp_user', 'kp-pass'), keyPrefix: 'kp_', requireCache: true });
    expect(error.message).toMatch(
      /\(permission\): the Redis user may not use keys matching "kp_\*", nor the channel "kp_invalidate" \(NOPERM\)/,
    );
  });

  it('without requireCache: boots, logs it once, caches images, and answers a purge with a 503 without the script', async () => {
    await aclUser(
      'ne_user',
      'ne-pass',
      minimalAcl('ne_').filter((rule) => rule !== '+eval'),
    );
    const logger = new RecordingLogger();
    const app = await bootOrFail({ redis: as('ne_user', 'ne-pass'), keyPrefix: 'ne_' }, logger);
    const warning =
      'Redis refuses what the cache needs (permission): the Redis user may not run EVAL (NOPERM): grant them in its ACL (see "Minimal Redis ACL" in the README)';
    expect(logger.matching(/Redis refuses/)).toEqual([warning]);
    expect(cacheOf(app).state().problem).toEqual({
      kind: 'permission',
      message:
        'the Redis user may not run EVAL (NOPERM): grant them in its ACL (see "Minimal Redis ACL" in the README)',
    });
    expect((await app.get(ImageResizeService).health()).cacheProblem?.kind).toBe('permission');

    // Images are cached all the same: reads and stores need no script.
    expect((await get(app)).headers['x-cache']).toBe('MISS');
    expect((await get(app)).headers['x-cache']).toBe('HIT');

    // A purge needs EVAL: a 503 that says so, never Redis's raw reply.
    const upload = await request(app.getHttpServer()).post('/upload/logo.png');
    expect(upload.status).toBe(503);
    expect(upload.body).toMatchObject({ statusCode: 503, message: 'Image cache refused the purge' });
    const rejection = await app
      .get(ImageResizeService)
      .purge('logo_logo.png')
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(rejection).toBeInstanceOf(ImageResizeError);
    expect((rejection as ImageResizeError).getStatus()).toBe(503);
    expect(logger.matching(/Redis refused to purge/)[0]).toMatch(
      /\(permission\): the Redis user may not run EVAL/,
    );
    // Neither the Lua script nor anything of Redis's reply reaches a log line.
    expect(logger.text).not.toMatch(/redis\.call|SMEMBERS|KEYS\[1\]|user_script/);
    expect(logger.matching(/Redis refuses/)).toHaveLength(1);
    expectNoSecretOrAddress(logger.text, 'ne-pass');

    // The operator grants EVAL; the next reconnection checks again, and the problem clears.
    await redis.client.call('ACL', 'SETUSER', 'ne_user', '+eval');
    await redis.client.call('CLIENT', 'KILL', 'USER', 'ne_user');
    await until('the problem cleared', () => cacheOf(app).state().problem === undefined);
    await until('Redis answers', () => cacheOf(app).state().up);
    expect(await app.get(ImageResizeService).purge('logo_logo.png')).toBeGreaterThanOrEqual(0);
  });
});

describe('the minimal ACL of the README', () => {
  it('serves misses, hits and purges, keeps origin records and the hot tiers coherent, and is never refused', async () => {
    await aclUser('images', 'images-pass', minimalAcl('mc_'));
    await redis.client.call('ACL', 'LOG', 'RESET');
    const logger = new RecordingLogger();
    const options = { redis: as('images', 'images-pass'), keyPrefix: 'mc_', requireCache: true };
    const a = await bootOrFail(options, logger);
    const b = await bootOrFail(options, logger);
    await until(
      'hot tiers subscribed',
      () => cacheOf(a).state().hotTier === true && cacheOf(b).state().hotTier === true,
    );

    expect((await get(a)).headers['x-cache']).toBe('MISS');
    expect((await get(a)).headers['x-cache']).toBe('HIT');
    expect((await get(b)).headers['x-cache']).toBe('HIT');
    expect((await get(a, '/logo-large/logo.png')).headers['x-cache']).toBe('MISS');
    // The record of the original (revalidation) is kept, by a script.
    await until(
      'origin record stored',
      async () => (await redis.client.exists('mc_logo_logo.png#origin')) === 1,
    );

    // A purge on b removes both variants, and a's hot copy goes with them.
    expect(await b.get(ImageResizeService).purge('logo_logo.png')).toBe(2);
    await until('a misses', async () => (await get(a)).headers['x-cache'] === 'MISS');

    for (const app of [a, b]) {
      expect(cacheOf(app).state()).toMatchObject({ up: true, hotTier: true, breakerOpen: false });
      expect(cacheOf(app).state().problem).toBeUndefined();
    }
    // Nothing the cache sent was refused, and nothing was worth a warning.
    expect(await aclRefusals('images')).toEqual([]);
    expect(logger.lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
    // The check at boot left no key behind.
    expect((await redis.client.keys('mc_*')).filter((key) => key.includes('probe'))).toEqual([]);
  });
});

describe('Redis out of reach at boot', () => {
  it('fails the boot with requireCache, as a network problem', async () => {
    const port = await freePort(); // nothing listens there
    const error = await refusal({ redis: `redis://127.0.0.1:${port}`, requireCache: true });
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error.message).toMatch(
      /^ImageResizeModule: Redis cannot be used \(network\): connection refused \(ECONNREFUSED\)/,
    );
    expect(error.message).toMatch(/check the host and port in option "redis"/);
    expect(error.message).not.toContain(String(port));
  });
});

describe('TLS on one side only', () => {
  let tlsPort: TestTlsPort;
  beforeAll(async () => {
    tlsPort = await startTlsPort();
  });
  afterAll(async () => tlsPort.close());

  it('rediss:// to a Redis port without TLS fails the boot with requireCache', async () => {
    const error = await refusal({
      redis: { host: '127.0.0.1', port: redisPort, tls: {}, connectTimeout: 300 },
      requireCache: true,
    });
    expect(error.message).toMatch(
      /^ImageResizeModule: Redis cannot be used \(tls\): TLS handshake unanswered \(ETIMEDOUT\): .*use redis:\/\/ rather than rediss:\/\//,
    );
  });

  it('plaintext to a TLS port fails the boot with requireCache', async () => {
    const error = await refusal({ redis: `redis://127.0.0.1:${tlsPort.port}`, requireCache: true });
    expect(error.message).toMatch(
      /^ImageResizeModule: Redis cannot be used \(tls\): Redis closed the connection before answering\b.*use rediss:\/\//,
    );
  });

  it('rediss:// without the CA of the server: boots without requireCache, logs it once as tls', async () => {
    const logger = new RecordingLogger();
    const app = await bootOrFail({ redis: `rediss://127.0.0.1:${tlsPort.port}` }, logger);
    expect((await get(app)).headers['x-cache']).toBe('BYPASS');
    expect(logger.matching(/Redis unavailable/)).toEqual([
      expect.stringMatching(
        /^Redis unavailable, serving images without the cache \(tls\): Redis's TLS certificate is not trusted \([A-Z_]+\): give its CA in option "redis" \(tls: \{ ca \}\)$/,
      ),
    ]);
    expect(cacheOf(app).state().problem?.kind).toBe('tls');
    const refused = await refusal({ redis: `rediss://127.0.0.1:${tlsPort.port}`, requireCache: true });
    expect(refused.message).toMatch(/\(tls\): Redis's TLS certificate is not trusted/);
  });
});
