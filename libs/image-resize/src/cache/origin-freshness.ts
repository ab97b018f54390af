import { webcrypto } from 'node:crypto';
import { HttpException, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import {
  ImageNotFoundError,
  ImageResizeError,
  loggableMessage,
  UpstreamError,
} from '../errors/image-resize.errors';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { LoadedSource, SourceValidators } from '../sources/image-source.interface';
import type { ResolvedResizeSpec } from '../spec/resize-spec.interface';
import type { ImageCache } from './image-cache.interface';
import {
  backoffSeconds,
  checkIntervalMs,
  compactRecord,
  conditionalValidators,
  isDue,
  nextCheckAt,
  type OriginRecord,
  originKeys,
  type RevalidationPolicy,
} from './origin-record';

/**
 * How long an instance that found the check's lock taken leaves the original alone, in milliseconds,
 * before it tries again (and reads the record the other instance wrote meanwhile).
 */
export const BUSY_MS = 1000;
/** Records held in memory at most (least recently used go first). */
const MAX_MEMO_ENTRIES = 10_000;
/** Beyond the fetch itself, how long the lock of a check may be held (reads, a hash, a purge, a write). */
const LOCK_MARGIN_MS = 2000;

const UNAVAILABLE: unique symbol = Symbol('unavailable');
type RecordRead = OriginRecord | undefined | typeof UNAVAILABLE;

/**
 * What an instance knows of an original: the record it read or wrote last. Records only move forward
 * (every load, check or failure makes them later), so an older copy only makes this instance find the
 * original due sooner than it is: it then reads the record again under the check's lock, and finds it
 * fresh. So a hit reads the shared cache for a record only when it has none here, or finds it due.
 */
interface MemoEntry {
  record: OriginRecord | undefined;
  /** Another instance held the check's lock: this one does not try again before then (epoch ms). */
  busyUntil?: number;
}

/** An original loaded for a check, held within the admission budget until `release()`. */
export interface HeldOriginal {
  loaded: LoadedSource;
  release(): void;
}

/** What a check needs of the request that found its original due. */
export interface OriginCheck {
  /** How the logs name the original: its cacheKey (never its URL). */
  name: string;
  /** Loads the original again, conditionally on `validators`, within the limits of every load. */
  load(validators: SourceValidators | undefined): Promise<HeldOriginal>;
}

/**
 * Freshness from the origin (options `revalidateAfter`, `originMaxAge`): with each cacheKey's group,
 * the cache keeps the record of its original ({@link OriginRecord}); a hit on a variant whose
 * original is due is served at once, and one check goes to the origin in the background — one per
 * original for all its variants and for every instance sharing the cache (a lock per group, taken
 * like a variant's, and one promise per group in this process). A check is conditional: unchanged
 * (304, the same file, or the same bytes), every variant is fresh again; changed, the group is purged
 * (which every instance's hot tier hears of) and its variants are remade as they are asked for; gone
 * (404, 410), the group is purged; failed, the variants stay and the next check waits a back-off.
 *
 * Nothing here throws into a request: a cache that does not answer means no check now.
 */
export class OriginFreshness {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private readonly memo = new LRUCache<string, MemoEntry>({ max: MAX_MEMO_ENTRIES });
  private readonly reads = new Map<string, Promise<RecordRead>>();
  private readonly checks = new Map<string, Promise<void>>();
  private readonly lockMs: number;
  /** Whether the cache keeps origin records (a cache without them does not revalidate). */
  private readonly revalidates: boolean;
  /** The module's policy, for the specs that have none of their own. */
  private readonly modulePolicy: RevalidationPolicy | undefined;

  constructor(
    private readonly cache: ImageCache,
    private readonly options: Pick<
      ResolvedImageResizeOptions,
      'revalidateAfter' | 'originMaxAge' | 'fetchTimeoutMs'
    >,
  ) {
    this.lockMs = options.fetchTimeoutMs + LOCK_MARGIN_MS;
    this.revalidates = typeof cache.getOrigin === 'function' && typeof cache.setOrigin === 'function';
    this.modulePolicy =
      options.revalidateAfter === false
        ? undefined
        : { revalidateAfter: options.revalidateAfter, originMaxAge: options.originMaxAge };
  }

  /** Checks under way in this process. */
  get inFlight(): number {
    return this.checks.size;
  }

  /** Resolves when the checks under way in this process have ended (for shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.checks.values()]);
  }

  /**
   * When the originals of `spec`'s variants are due, or `undefined` when they are not revalidated:
   * `revalidateAfter: false` (the spec's, else the module's), or a cache without origin records.
   */
  policyOf(
    spec: Pick<ResolvedResizeSpec, 'revalidateAfter' | 'originMaxAge'>,
  ): RevalidationPolicy | undefined {
    if (!this.revalidates) return undefined;
    // The common case, a route without its own settings: the module's policy, made once.
    if (spec.revalidateAfter === undefined && spec.originMaxAge === undefined) return this.modulePolicy;
    const revalidateAfter = spec.revalidateAfter ?? this.options.revalidateAfter;
    if (revalidateAfter === false) return undefined;
    return { revalidateAfter, originMaxAge: spec.originMaxAge ?? this.options.originMaxAge };
  }

  /**
   * A variant of `group` was found in the cache: starts the check of its original if it is due (in
   * the background), and resolves to the seconds the variant may be kept by clients: `ttl`, or less
   * when the next check is sooner (0 once it is due).
   *
   * @param expiresAt when the cache drops the variant, if it says (the Redis cache does): a variant
   *   younger than `revalidateAfter` was made from a load that recent, so its original is not due,
   *   and the record need not be read — a hit that the hot tier answers stays without a round trip
   */
  async onHit(
    group: string,
    policy: RevalidationPolicy,
    ttl: number,
    check: () => OriginCheck,
    expiresAt?: number,
  ): Promise<number> {
    let entry = this.memo.get(group);
    if (!entry) {
      const young = youngVariantSeconds(expiresAt, ttl, policy, Date.now());
      if (young !== undefined) return Math.min(ttl, young);
      const read = await this.read(group);
      // The cache cannot say: no check now, and clients keep it no longer than one interval.
      if (read === UNAVAILABLE) return Math.min(ttl, policy.revalidateAfter);
      entry = { record: read };
    }
    const now = Date.now();
    const next = nextCheckAt(entry.record, policy);
    if (now >= next && !((entry.busyUntil ?? 0) > now)) this.start(group, policy, ttl, check());
    return Math.min(ttl, Math.max(0, Math.floor((next - now) / 1000)));
  }

  /**
   * Seconds a variant made just now from a fresh load may be kept: `ttl`, or `revalidateAfter` if
   * that is sooner (for a variant another instance made and stored, whose record this one has not read).
   */
  madeTtl(policy: RevalidationPolicy | undefined, ttl: number): number {
    return policy ? Math.min(ttl, policy.revalidateAfter) : ttl;
  }

  /**
   * Stores a variant made from `loaded` (with `store`) and records its original as checked now, with
   * the load's validators. If the record says the group's other variants were made from another
   * version of the original, they are purged first: all the variants of a cacheKey come from one
   * version. Resolves to the seconds the variant may be kept by clients.
   */
  async stored(
    group: string,
    loaded: LoadedSource,
    policy: RevalidationPolicy | undefined,
    ttl: number,
    store: () => Promise<void>,
  ): Promise<number> {
    if (!policy) {
      await store();
      return ttl;
    }
    const hash = await sha256(loaded.body);
    const previous = await this.read(group, true);
    // Without a record, the variants there (if any) were cached without revalidation: they are left
    // to their TTL, as before. A record without a hash followed a first check that failed.
    const otherVersion = previous !== UNAVAILABLE && previous !== undefined && previous.hash !== hash;
    if (otherVersion && !(await this.purge(group))) {
      // The older variants are still there: the record keeps saying so, and the next check purges them.
      await store();
      return Math.min(ttl, policy.revalidateAfter);
    }
    await store();
    const record = compactRecord({ ...loaded.validators, hash, checkedAt: Date.now() });
    await this.write(group, record, ttl);
    return Math.min(ttl, Math.floor(checkIntervalMs(record, policy) / 1000));
  }

  /** Starts the check of `group`'s original unless one is under way in this process. */
  private start(group: string, policy: RevalidationPolicy, ttl: number, check: OriginCheck): void {
    if (this.checks.has(group)) return;
    const run = this.check(group, policy, ttl, check)
      .catch((error: unknown) =>
        this.logger.debug(`Revalidation of image ${check.name} stopped: ${loggableMessage(error)}`),
      )
      .finally(() => this.checks.delete(group));
    this.checks.set(group, run);
  }

  /** One check across the instances: under the group's lock, if the record read again is still due. */
  private async check(group: string, policy: RevalidationPolicy, ttl: number, check: OriginCheck) {
    const { tryLock, unlock } = this.cache;
    const { lock } = originKeys(group);
    let token: string | undefined = '';
    if (tryLock && unlock) {
      try {
        token = await tryLock.call(this.cache, lock, this.lockMs);
      } catch {
        token = undefined; // the cache does not answer: no check now
      }
      if (token === undefined) {
        // Another instance is checking (or the cache is not answering): this one goes by what it
        // knows, and tries again a moment later, when it reads the record first.
        this.memo.set(group, { record: this.memo.get(group)?.record, busyUntil: Date.now() + BUSY_MS });
        return;
      }
    }
    try {
      const current = await this.read(group, true);
      if (current === UNAVAILABLE || !isDue(current, policy, Date.now())) return;
      await this.revalidate(group, current, policy, ttl, check);
    } finally {
      if (token) await unlock!.call(this.cache, lock, token).catch(() => undefined);
    }
  }

  /** Asks the origin, and records what it said. */
  private async revalidate(
    group: string,
    current: OriginRecord | undefined,
    policy: RevalidationPolicy,
    ttl: number,
    check: OriginCheck,
  ): Promise<void> {
    const validators = conditionalValidators(current);
    let held: HeldOriginal;
    try {
      held = await check.load(validators);
    } catch (error) {
      if (error instanceof ImageNotFoundError) return this.gone(group, current, ttl, check);
      return this.failed(group, current, policy, ttl, check, error);
    }
    try {
      const { loaded } = held;
      if (loaded.notModified) {
        if (!current || !validators) {
          const error = new UpstreamError('The source loader answered "not modified" to a plain load');
          return await this.failed(group, current, policy, ttl, check, error);
        }
        // A 304 may update some validators; those it leaves out stay as they were.
        return await this.unchanged(group, { ...current, ...loaded.validators }, current, ttl, check);
      }
      const hash = await sha256(loaded.body);
      const record = { ...loaded.validators, hash, checkedAt: 0 };
      if (current?.hash === hash) return await this.unchanged(group, record, current, ttl, check);
      return await this.changed(group, record, ttl, check);
    } finally {
      held.release();
    }
  }

  /** The original is as it was: every variant is fresh again, none is remade. */
  private async unchanged(
    group: string,
    record: OriginRecord,
    current: OriginRecord,
    ttl: number,
    check: OriginCheck,
  ): Promise<void> {
    await this.write(
      group,
      compactRecord({ ...record, checkedAt: Date.now(), failures: undefined, retryAt: undefined }),
      ttl,
    );
    if (current.failures) {
      this.logger.log(
        `Revalidated image ${check.name} with its origin after ${plural(current.failures, 'failed check')}: unchanged`,
      );
    } else {
      this.logger.debug(`Revalidated image ${check.name} with its origin: unchanged`);
    }
  }

  /**
   * The original changed: the group is purged (every instance's hot tier drops it), and the record
   * says which version the variants remade from now on come from.
   */
  private async changed(group: string, record: OriginRecord, ttl: number, check: OriginCheck): Promise<void> {
    const removed = await this.purge(group);
    if (removed === undefined) return; // not recorded: the next check finds the original changed again
    await this.write(group, compactRecord({ ...record, checkedAt: Date.now() }), ttl);
    this.logger.debug(
      `Image ${check.name} changed at its origin: ${plural(removed, 'variant')} purged, remade as they are asked for`,
    );
  }

  /**
   * The origin no longer has the original (404, 410): its variants go. The record says it was
   * checked, so that an instance still holding a copy in its hot tier does not check again.
   */
  private async gone(
    group: string,
    current: OriginRecord | undefined,
    ttl: number,
    check: OriginCheck,
  ): Promise<void> {
    const removed = await this.purge(group);
    if (removed === undefined) return;
    const record = { ...(current ?? {}), checkedAt: Date.now(), failures: undefined, retryAt: undefined };
    await this.write(group, compactRecord(record), ttl);
    this.logger.log(
      `Image ${check.name} is gone from its origin: ${plural(removed, 'cached variant')} purged`,
    );
  }

  /**
   * The check failed (unreachable, an error status, a timeout, over a limit): the variants are
   * served as they are, and the next check waits a back-off. Logged once per run of failures (the
   * count is in the shared record, so once for the whole fleet).
   */
  private async failed(
    group: string,
    current: OriginRecord | undefined,
    policy: RevalidationPolicy,
    ttl: number,
    check: OriginCheck,
    error: unknown,
  ): Promise<void> {
    const failures = (current?.failures ?? 0) + 1;
    const wait = backoffSeconds(failures, policy.revalidateAfter);
    const record = compactRecord({
      ...(current ?? { checkedAt: 0 }),
      failures,
      retryAt: Date.now() + wait * 1000,
    });
    await this.write(group, record, ttl);
    if (failures > 1) return;
    const status = error instanceof HttpException ? error.getStatus() : 500;
    const cause = error instanceof ImageResizeError && error.logCause ? `; cause: ${error.logCause}` : '';
    this.logger.warn(
      `Could not revalidate image ${check.name} with its origin, serving its cached variants: ${status} ${loggableMessage(error)}${cause}; next check in ${wait} s`,
    );
  }

  /** Purges `group`; resolves to how many variants went, or `undefined` when the cache could not. */
  private async purge(group: string): Promise<number | undefined> {
    try {
      return await this.cache.purge(group);
    } catch (error) {
      this.logger.debug(`Could not purge ${group} after its origin changed: ${loggableMessage(error)}`);
      return undefined;
    }
  }

  /**
   * The record of `group`: read from the cache (one read at a time per group), and remembered (see
   * {@link MemoEntry}). `fresh` reads the cache even if a read is under way.
   */
  private read(group: string, fresh = false): Promise<RecordRead> {
    const pending = fresh ? undefined : this.reads.get(group);
    if (pending) return pending;
    const read = this.cache.getOrigin!(group).then<RecordRead, RecordRead>(
      (record) => {
        this.memo.set(group, { record });
        return record;
      },
      (error: unknown) => {
        this.logger.debug(`Cache lookup of the origin record ${group} failed: ${loggableMessage(error)}`);
        return UNAVAILABLE;
      },
    );
    if (!fresh) {
      this.reads.set(group, read);
      void read.finally(() => this.reads.delete(group));
    }
    return read;
  }

  /** Writes the record (a cache that refuses it is logged at debug) and remembers it here. */
  private async write(group: string, record: OriginRecord, ttl: number): Promise<void> {
    this.memo.set(group, { record });
    try {
      await this.cache.setOrigin!(group, record, ttl);
    } catch (error) {
      this.logger.debug(`Could not record the origin of ${group}: ${loggableMessage(error)}`);
    }
  }
}

/**
 * Seconds until a variant that expires at `expiresAt` (stored for `ttl` seconds) is `revalidateAfter`
 * old, when it is younger than that; `undefined` when its age is unknown or it is not. Its original
 * was loaded when it was made, or checked since: it is due no sooner. (Stored with a longer ttl than
 * `ttl`, it looks younger than it is: the check comes at most one `revalidateAfter` late.)
 */
function youngVariantSeconds(
  expiresAt: number | undefined,
  ttl: number,
  policy: RevalidationPolicy,
  now: number,
): number | undefined {
  if (expiresAt === undefined) return undefined;
  const madeAt = Math.min(now, expiresAt - ttl * 1000);
  const dueAt = madeAt + policy.revalidateAfter * 1000;
  return now < dueAt ? Math.floor((dueAt - now) / 1000) : undefined;
}

/** SHA-256 of `body` in hex, hashed off the event loop. */
async function sha256(body: Buffer): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', body)).toString('hex');
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;
