import { randomUUID } from 'node:crypto';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import {
  CacheUnavailableError,
  describeErrorCause,
  ImageResizeError,
  loggableMessage,
} from '../errors/image-resize.errors';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import type { CachedImage, ImageCache, ImageCacheKey, ImageCacheState } from './image-cache.interface';
import { decodeCachedImage, encodeCachedImage } from './cached-image.codec';
import type { HotImageTier } from './hot-image.tier';
import { type OriginRecord, originKeys, parseOriginRecord, serializeOriginRecord } from './origin-record';
import { classifyRedisError } from './redis-problem';
import { noteRedisRefusal, redisProblemOf } from './redis-problem.tracker';
import { answeredBy } from '../tracing/image-resize.tracing';

/**
 * Deletes every key listed in the set KEYS[1], then the set; returns how many listed keys existed.
 * Atomic, so a variant stored during a purge is either purged or indexed anew. In a cluster the
 * variants share the set's hash slot (`{cacheKey}` hash tags), so the script stays on one node.
 */
const PURGE_SCRIPT = `
local members = redis.call('SMEMBERS', KEYS[1])
local removed = 0
for _, key in ipairs(members) do
  removed = removed + redis.call('DEL', key)
end
redis.call('DEL', KEYS[1])
return removed
`;

/**
 * Deletes the lock KEYS[1] only if it still holds this instance's token ARGV[1]; then, if instances wait
 * for it (the key KEYS[2] is there: see {@link WAIT_SCRIPT}), deletes KEYS[2] and PUBLISHes ARGV[3] on
 * the channel ARGV[2] (none when ARGV[2] is empty). A release nobody waits for publishes nothing.
 */
const UNLOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('DEL', KEYS[2]) == 1 and ARGV[2] ~= '' then
    redis.call('PUBLISH', ARGV[2], ARGV[3])
  end
  return 1
end
return 0
`;

/**
 * An instance waits for the lock KEYS[1]: if it is held, marks it as waited for (the key KEYS[2], which
 * lives as long as the lock and ARGV[1] ms more) and returns the milliseconds the lock has left; -2 when
 * nobody holds it (any more).
 */
const WAIT_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left == -2 then return -2 end
if left < 0 then left = 0 end
redis.call('SET', KEYS[2], '1', 'PX', left + tonumber(ARGV[1]))
return left
`;

/**
 * How long an instance waiting for another one's miss waits for the release to be announced before it
 * looks for itself, in case the announcement was lost (or the holder crashed: then the lock's expiry,
 * if sooner, ends the wait too).
 */
export const WAIT_FALLBACK_MS = 1000;

/** The key that says instances wait for the lock `lock`. */
const waitersKey = (lock: string) => `${lock}#waiting`;

/** Makes the lock KEYS[1] expire ARGV[2] ms from now only if it still holds this instance's token ARGV[1]. */
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/** Purges sent to Redis at once when kept purges are replayed (one pipeline). */
const REPLAY_BATCH = 64;

/** What a caller hears of a purge that Redis could not make now. */
/**
 * How long a purge counts as recent: one asked for within this long before a reconnection is made again
 * after it. A client follows a Sentinel failover within a second or two (`failoverDetector`); a purge
 * sent to the old master just before it was demoted would otherwise be undone by the new one's data.
 */
const RECENT_PURGES_MS = 30_000;
const KEPT_MESSAGE = 'Image cache unavailable: the purge is kept and will be made when the cache is back';

/**
 * Replies of a Redis that is there but cannot run the purge right now (loading, busy, failing over, a
 * replica, out of memory...): such a purge is kept like one that could not reach Redis. Any other reply
 * (an ACL refusal, say) would fail every time, and is not kept.
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|OOM|MISCONF|NOREPLICAS)\b/;

/** Whether Redis answered the purge with a refusal that retrying cannot change. */
function isRefusal(error: unknown): boolean {
  const { name, message } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
  };
  return name === 'ReplyError' && typeof message === 'string' && !TRANSIENT_REPLY.test(message);
}

/** How the Redis cache keeps the purges that Redis could not make when they were asked for. */
export interface KeptPurgeOptions {
  /**
   * Most purges kept (one per group: purging a group already kept adds nothing). Past it the oldest is
   * dropped, and logged once per outage: its variants may then be served until their TTL. Default 10000
   * (a kept purge is one key name: at most a few MB in all).
   */
  maxKept?: number;
  /**
   * Milliseconds between attempts to replay them when nothing else prompts one (a reconnection, or
   * Redis answering another command does at once). Default 1000.
   */
  retryMs?: number;
}

/** A purge not made yet, and the callers waiting for it (only while an attempt is under way). */
interface KeptPurge {
  waiters: Array<{ resolve: (removed: number) => void; reject: (error: Error) => void }>;
  /** Its purge has been sent: a later purge of the same group needs a purge of its own. */
  sent: boolean;
}

/**
 * Sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds, or for the TTL it has left if that is longer: the
 * record of an original outlives the longest-lived of its variants.
 */
const SET_ORIGIN_SCRIPT = `
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then ttl = left end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return 1
`;

/** How the circuit breaker reacts to failing commands. */
export interface RedisBreakerOptions {
  /** Consecutive failed commands that open the circuit. Default 3. */
  failures: number;
  /** Milliseconds the circuit stays open before one command is tried again. Default 5000. */
  openMs: number;
}

/**
 * Redis cache of resized images. Images are stored as raw bytes with a small binary header (see
 * `cached-image.codec.ts`), read with `GETBUFFER`, and every key has a TTL. The variants of one
 * cacheKey are listed in a set (the group), so a purge deletes exactly them: no `KEYS`, `SCAN` or
 * `FLUSHDB`, and other applications' keys in the same database are never touched.
 *
 * While the connection is down, or after repeated failed commands (a circuit breaker), commands are
 * not sent at all: calls fail at once with {@link CacheUnavailableError}, and the service serves
 * images without the cache. Each change of state is logged once.
 *
 * With a {@link HotImageTier}, the images this process served last are answered from its memory,
 * without a round trip to Redis; stores and purges are announced to the other instances.
 *
 * A purge is never lost to an outage: one that Redis cannot make now is kept (see {@link purge}) and
 * replayed, in order, as soon as Redis answers again.
 */
export class RedisImageCache implements ImageCache, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private consecutiveFailures = 0;
  private openUntil = 0;
  /** The purges not made yet, by group, oldest first. */
  private readonly kept = new Map<string, KeptPurge>();
  private readonly maxKept: number;
  private readonly retryMs: number;
  private draining?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;
  /** Set once shutting down: see {@link onApplicationShutdown}. */
  private stopping?: Promise<void>;
  /** Set while purges are kept because Redis failed them: how many were replayed since, and whether some were dropped. */
  private outage?: { replayed: number; overflowed: boolean };
  /**
   * Purges asked for lately, oldest first: made again after a reconnection, in case one reached a
   * master that a failover then demoted (its replica, now the master, still has the variants).
   */
  private readonly recent = new Map<string, number>();
  /** Redis is connected again: the kept purges go first, and the recent ones are made again. */
  private readonly onReady = () => {
    this.repeatRecentPurges();
    if (this.kept.size > 0) void this.replay();
  };

  /**
   * @param client the ioredis client (a `Redis` or a `Cluster`); its owner closes it.
   * @param breaker when repeated failures stop the cache from sending commands for a while.
   * @param hot the in-process tier in front of Redis, if any; started and stopped with the module.
   * @param purges how many purges are kept while Redis cannot make them, and how often they are retried.
   */
  constructor(
    readonly client: Redis | Cluster,
    private readonly breaker: RedisBreakerOptions = { failures: 3, openMs: 5000 },
    readonly hot?: HotImageTier,
    purges: KeptPurgeOptions = {},
  ) {
    this.maxKept = Math.max(1, purges.maxKept ?? 10_000);
    this.retryMs = purges.retryMs ?? 1000;
  }

  /** Purges not made yet: kept while Redis could not make them, or being sent now. */
  get keptPurges(): number {
    return this.kept.size;
  }

  onModuleInit(): void {
    this.client.on('ready', this.onReady);
    this.hot?.start(this.client);
  }

  /**
   * The cached variant. While a purge of its group is kept, nothing of the group is read (neither the
   * hot tier nor Redis): this rejects with {@link CacheUnavailableError}, and the image is served uncached.
   * Redis answering empties the outage tier (see {@link HotImageTier.answered}).
   */
  async get(key: string, ref?: ImageCacheKey): Promise<CachedImage | undefined> {
    if (ref && this.kept.has(ref.group)) throw new CacheUnavailableError();
    const hot = this.hot;
    if (!hot) return decodeCachedImage(await this.guard(() => this.client.getBuffer(key)));
    const held = hot.get(key);
    if (held) return answeredBy('hot', held);
    const mark = hot.mark;
    const data = await this.guard(() => this.client.getBuffer(key));
    hot.answered();
    const image = decodeCachedImage(data);
    if (image && ref) hot.keep(ref, image, mark);
    return image;
  }

  /**
   * Stores a variant for `ttlSeconds` in its group. When Redis cannot take it (not connected, not
   * answering, circuit open), this rejects, and the image is kept in the outage tier meanwhile (unless
   * a purge of its group is kept, or was asked for while it was being written).
   */
  async set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void> {
    const ttlMs = ttlSeconds * 1000;
    const stored: CachedImage = { ...image, expiresAt: Date.now() + ttlMs };
    const mark = this.hot?.mark ?? 0;
    const outageTier = this.hot?.outage;
    const outageMark = outageTier?.mark ?? 0;
    const data = encodeCachedImage(stored);
    // The group lists the variant and lives at least as long as its longest-lived variant. PTTL first
    // says whether the SET replaces an entry (-2: there was none), which other instances may hold.
    let results: Array<[error: Error | null, result: unknown]> | null;
    try {
      results = await this.guard(() =>
        this.client
          .multi()
          .pttl(ref.key)
          .set(ref.key, data, 'PX', ttlMs)
          .sadd(ref.group, ref.key)
          .pexpire(ref.group, ttlMs, 'NX')
          .pexpire(ref.group, ttlMs, 'GT')
          .exec(),
      );
    } catch (error) {
      // Unless its group is being purged: the image may have been made from an original loaded before.
      if (!this.kept.has(ref.group)) outageTier?.keep(ref, image, ttlSeconds, outageMark);
      throw error;
    }
    this.hot?.answered();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
    const replaced = results?.[0]?.[1] !== -2;
    this.hot?.stored(this.client, ref, stored, mark, replaced);
  }

  /**
   * Deletes every variant of `group` in Redis and drops them from every instance's hot tier; resolves
   * to how many there were. This instance's tiers (hot and outage) drop them at once.
   *
   * When Redis cannot make it now (not connected, not answering, circuit open), the purge is kept and
   * this rejects with {@link CacheUnavailableError} (503). Until it is made, this instance reads
   * nothing of `group`. Kept purges are replayed in the order they were made as soon as Redis answers
   * again (a reconnection, any command that succeeds, else every `retryMs`), for as long as the process
   * runs; each one made is announced to the other instances' tiers, as a purge always is. A purge that
   * Redis refuses outright (e.g. an ACL without EVAL) is not kept: it rejects with an
   * {@link ImageResizeError} 503 ("Image cache refused the purge"), is logged with its kind (never
   * with Redis's reply or the script), and the cache's `state()` shows the problem.
   */
  purge(group: string): Promise<number> {
    this.hot?.drop(group);
    this.remember(group);
    let entry = this.kept.get(group);
    if (!entry || entry.sent) {
      entry = { waiters: [], sent: false };
      this.keep(group, entry);
    }
    const waiters = entry.waiters;
    const outcome = new Promise<number>((resolve, reject) => waiters.push({ resolve, reject }));
    void this.replay();
    return outcome;
  }

  /** Takes the lock `key` for `ttlMs` if nobody holds it; resolves to the token that unlocks it. */
  async tryLock(key: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const taken = await this.guard(() => this.client.set(key, token, 'PX', ttlMs, 'NX'));
    return taken === 'OK' ? token : undefined;
  }

  /**
   * Releases the lock `key` if it still holds `token`; if instances wait for it (see
   * {@link waitForUnlock}), tells them, on the hot tier's channel.
   */
  async unlock(key: string, token: string): Promise<void> {
    const [channel, message] = this.hot?.release(key) ?? ['', ''];
    await this.guard(() => this.client.eval(UNLOCK_SCRIPT, 2, key, waitersKey(key), token, channel, message));
  }

  /**
   * Waits while another instance holds the lock `key`: until it releases it (its result is stored, or
   * it gave up) and says so, the lock lapses, or `maxMs` pass. The release is announced on the hot
   * tier's subscription; in case an announcement is lost, Redis is asked every {@link WAIT_FALLBACK_MS}
   * (and when the lock would lapse, if sooner) whether the lock is still held. Resolves to `false` at
   * once when the subscription is not up (the caller polls instead), and when Redis does not answer.
   */
  async waitForUnlock(key: string, maxMs: number): Promise<boolean> {
    const hot = this.hot;
    if (!hot?.active) return false;
    const deadline = Date.now() + maxMs;
    const wait = hot.listen(key);
    let woken = false;
    void wait.released.then(() => (woken = true));
    let timer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        // Held still? Then this instance is listed as waiting (again), and the lock's expiry is known.
        const left = Number(
          await this.guard(() =>
            this.client.eval(WAIT_SCRIPT, 2, key, waitersKey(key), String(WAIT_FALLBACK_MS)),
          ),
        );
        const ms = Math.min(deadline - Date.now(), WAIT_FALLBACK_MS, Math.max(1, left));
        if (left === -2 || woken || ms <= 0) return true;
        await Promise.race([wait.released, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
        clearTimeout(timer);
        if (woken) return true;
      }
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      wait.stop();
    }
  }

  /** Makes the lock `key` expire `ttlMs` from now if it still holds `token`; whether it did. */
  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.guard(() => this.client.eval(RENEW_SCRIPT, 1, key, token, String(ttlMs)))) === 1;
  }

  async ping(): Promise<void> {
    await this.guard(() => this.client.ping());
  }

  /** Connected and not held off by the breaker; whether the hot tier serves; the breaker's state. */
  state(): ImageCacheState {
    const breakerOpen = Date.now() < this.openUntil;
    // What the module's connection found wrong (a password, TLS, the ACL), while it lasts.
    const problem = redisProblemOf(this.client);
    return {
      up: this.client.status === 'ready' && !breakerOpen,
      ...(problem ? { problem: { ...problem } } : {}),
      ...(this.hot ? { hotTier: this.hot.active } : {}),
      breakerOpen,
    };
  }

  /**
   * The record of the original of `group`: JSON under `<prefix><cacheKey>#origin`, in the group's
   * hash slot. Read from Redis every time (the service keeps it briefly in memory itself).
   */
  async getOrigin(group: string): Promise<OriginRecord | undefined> {
    return parseOriginRecord(await this.guard(() => this.client.get(originKeys(group).record)));
  }

  /** Keeps the record of `group` for `ttlSeconds`, or longer if it already had longer to live. */
  async setOrigin(group: string, record: OriginRecord, ttlSeconds: number): Promise<void> {
    const key = originKeys(group).record;
    const data = serializeOriginRecord(record);
    await this.guard(() => this.client.eval(SET_ORIGIN_SCRIPT, 1, key, data, String(ttlSeconds * 1000)));
  }

  /**
   * Nest's `onApplicationShutdown`, once the HTTP server has drained (its last requests still use the
   * cache and its hot tier): lets a replay of kept purges under way end, gives up on the purges still
   * kept (with a warning), and stops the hot tier. Whoever owns the client closes it after this (the
   * module's connection waits for it). Runs once, however often it is called.
   */
  onApplicationShutdown(): Promise<void> {
    return (this.stopping ??= this.stop());
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.client.off('ready', this.onReady);
    await this.draining;
    if (this.kept.size > 0) {
      this.logger.warn(
        `${plural(this.kept.size, 'purge')} kept while Redis was unavailable could not be made before shutdown: their variants may be served until their TTL`,
      );
      const error = new CacheUnavailableError(
        'Image cache unavailable: the purge was not made before shutdown',
      );
      for (const entry of this.kept.values()) settle(entry, error);
      this.kept.clear();
    }
    await this.hot?.stop();
  }

  /** Notes a purge as recent (see {@link recent}), forgetting those past the window. */
  private remember(group: string): void {
    this.recent.delete(group);
    this.recent.set(group, Date.now());
    const since = Date.now() - RECENT_PURGES_MS;
    for (const [old, at] of this.recent) {
      if (at >= since && this.recent.size <= this.maxKept) break;
      this.recent.delete(old);
    }
  }

  /** Keeps the recent purges again (without callers: they were answered), to be made once more. */
  private repeatRecentPurges(): void {
    const since = Date.now() - RECENT_PURGES_MS;
    for (const [group, at] of this.recent) {
      if (at < since) this.recent.delete(group);
      else if (!this.kept.has(group)) this.keep(group, { waiters: [], sent: false });
    }
  }

  /** Adds a purge at the end of the kept ones; past `maxKept`, the oldest is dropped. */
  private keep(group: string, entry: KeptPurge): void {
    this.kept.delete(group);
    if (this.kept.size >= this.maxKept) {
      const [oldest, dropped] = this.kept.entries().next().value as [string, KeptPurge];
      this.kept.delete(oldest);
      settle(dropped, new CacheUnavailableError('Image cache unavailable: too many purges kept'));
      const outage = (this.outage ??= { replayed: 0, overflowed: false });
      if (!outage.overflowed) {
        this.logger.warn(
          `More than ${this.maxKept} purges kept while Redis is unavailable: dropping the oldest, whose variants may be served until their TTL`,
        );
      }
      outage.overflowed = true;
    }
    this.kept.set(group, entry);
  }

  /** Makes the kept purges (the one run under way, or a new one). */
  private replay(): Promise<void> {
    if (!this.draining) {
      const run = this.drain().catch((error: unknown) => {
        this.logger.error(`Replaying kept purges failed: ${loggableMessage(error)}`);
        const rejection = new CacheUnavailableError(KEPT_MESSAGE);
        for (const entry of this.kept.values()) settle(entry, rejection);
        this.scheduleRetry();
      });
      this.draining = run.finally(() => {
        this.draining = undefined;
        // A purge asked for while the run was ending still wants its answer.
        if (!this.stopped && [...this.kept.values()].some((entry) => entry.waiters.length > 0)) {
          void this.replay();
        }
      });
    }
    return this.draining;
  }

  /**
   * Sends the kept purges, oldest first, a batch at a time (one pipeline: Redis runs them in order),
   * until none is left or one fails; then retries later and tells the waiting callers it is kept.
   */
  private async drain(): Promise<void> {
    while (this.kept.size > 0) {
      const batch: Array<[string, KeptPurge]> = [];
      for (const item of this.kept) {
        batch.push(item);
        if (batch.length === REPLAY_BATCH) break;
      }
      for (const [, entry] of batch) entry.sent = true;
      const results = await Promise.allSettled(
        batch.map(([group]) => this.guard(() => this.client.eval(PURGE_SCRIPT, 1, group))),
      );
      let failure: { error: unknown } | undefined;
      batch.forEach(([group, entry], i) => {
        const result = results[i];
        if (result.status === 'fulfilled') this.made(group, entry, Number(result.value));
        else if (isRefusal(result.reason)) this.refused(group, entry, result.reason);
        else {
          entry.sent = false;
          failure ??= { error: result.reason };
        }
      });
      if (failure) return this.failed(failure.error, batch);
    }
    if (this.outage) {
      if (this.outage.replayed > 0) {
        this.logger.log(`Replayed ${plural(this.outage.replayed, 'purge')} kept while Redis was unavailable`);
      }
      this.outage = undefined;
    }
  }

  /** Redis made the purge of `group`: the other instances are told, the callers answered. */
  private made(group: string, entry: KeptPurge, removed: number): void {
    if (this.kept.get(group) === entry) this.kept.delete(group);
    this.hot?.purged(this.client, group);
    if (this.outage) this.outage.replayed += 1;
    for (const waiter of entry.waiters) waiter.resolve(removed);
    entry.waiters.length = 0;
  }

  /** Redis refused the purge of `group` in a way that retrying cannot change: not kept. */
  private refused(group: string, entry: KeptPurge, error: unknown): void {
    if (this.kept.get(group) === entry) this.kept.delete(group);
    // Redis's reply is not quoted: from 7.2 it names the user. Nor is it kept as the cause: ioredis
    // keeps the command on it, and the command of a purge is a script.
    const problem = classifyRedisError(error) ?? { kind: 'unknown', message: describeErrorCause(error) };
    if (problem.kind === 'permission') noteRedisRefusal(this.client, problem);
    const cause = `${problem.kind}: ${problem.message}`;
    this.logger.error(
      `Redis refused to purge ${group}, whose variants may be served until their TTL (${problem.kind}): ${problem.message}`,
    );
    settle(entry, new ImageResizeError('Image cache refused the purge', 503, { logCause: cause }));
  }

  /** Redis could not make the purges now: they stay kept, and the callers waiting hear a 503. */
  private failed(error: unknown, batch: Array<[string, KeptPurge]>): void {
    const cause =
      error instanceof CacheUnavailableError ? 'not connected, or circuit open' : describeErrorCause(error);
    if (!this.outage) {
      this.outage = { replayed: 0, overflowed: false };
      this.logger.warn(
        `Could not purge, Redis unavailable (${cause}): purges are kept and made in order when it answers`,
      );
    }
    // Not the error itself as the cause: ioredis keeps the command on it, and a purge's is a script.
    const rejection = new CacheUnavailableError(KEPT_MESSAGE, { logCause: cause });
    for (const [, entry] of batch) settle(entry, rejection);
    for (const entry of this.kept.values()) settle(entry, rejection);
    this.scheduleRetry();
  }

  /** Tries the kept purges again later: when the circuit closes, and at least `retryMs` from now. */
  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer || this.kept.size === 0) return;
    const delay = Math.max(this.retryMs, this.openUntil - Date.now());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.kept.size > 0) void this.replay();
    }, delay);
    this.retryTimer.unref();
  }

  /** Runs one command unless Redis is known to be unavailable, and keeps the breaker's count. */
  private async guard<T>(command: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready' || Date.now() < this.openUntil) throw new CacheUnavailableError();
    try {
      const result = await command();
      if (this.consecutiveFailures >= this.breaker.failures) {
        this.logger.log('Redis answers again, caching resumed');
      }
      this.consecutiveFailures = 0;
      // Redis answers: the kept purges go next.
      if (this.kept.size > 0 && !this.draining && !this.stopped) void this.replay();
      return result;
    } catch (error) {
      this.consecutiveFailures += 1;
      if (this.consecutiveFailures >= this.breaker.failures) {
        this.openUntil = Date.now() + this.breaker.openMs;
        if (this.consecutiveFailures === this.breaker.failures) {
          this.logger.warn(
            `Redis failed ${this.consecutiveFailures} commands in a row (${loggableMessage(error)}); serving images without the cache`,
          );
        }
      }
      throw error;
    }
  }
}

/** Rejects the callers waiting for a purge. */
function settle(entry: KeptPurge, error: Error): void {
  for (const waiter of entry.waiters) waiter.reject(error);
  entry.waiters.length = 0;
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;
