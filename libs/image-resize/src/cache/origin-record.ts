import type { SourceValidators } from '../sources/image-source.interface';

/**
 * What the cache keeps of the original behind one cacheKey (the group of all its variants), so that
 * every instance sharing the cache can tell when the original is due for a check with its origin,
 * and ask the origin whether it changed rather than load it again. Plain data (JSON-safe).
 */
export interface OriginRecord extends SourceValidators {
  /**
   * Epoch milliseconds of the last time the original was loaded or confirmed unchanged; the variants
   * are as fresh as this. `0` when it never was (a first check failed).
   */
  checkedAt: number;
  /** SHA-256 (hex) of the original's bytes as last loaded: tells a 200 with the same bytes from a change. */
  hash?: string;
  /** Checks that failed in a row since the last one that answered. */
  failures?: number;
  /** Epoch milliseconds before which no check is made again, after a failed one (the back-off). */
  retryAt?: number;
}

/** When the original of a route's variants is due for a check: its resolved `revalidateAfter` and `originMaxAge`. */
export interface RevalidationPolicy {
  /** Seconds after a load or a check at which the original is due for the next check. */
  revalidateAfter: number;
  /** Whether an origin's `Cache-Control: max-age` longer than `revalidateAfter` puts the check off. */
  originMaxAge: 'ignore' | 'longer-wins';
}

/** The longest back-off after failed checks, in seconds. */
export const MAX_BACKOFF_SECONDS = 3600;
/** The first back-off after a failed check, in seconds (doubled with each failure in a row). */
export const FIRST_BACKOFF_SECONDS = 60;

/** Milliseconds after `record.checkedAt` at which the original is due: `revalidateAfter`, or a longer origin max-age. */
export function checkIntervalMs(record: OriginRecord | undefined, policy: RevalidationPolicy): number {
  let seconds = policy.revalidateAfter;
  const maxAge = record?.maxAge;
  if (policy.originMaxAge === 'longer-wins' && maxAge !== undefined && maxAge > seconds) seconds = maxAge;
  return seconds * 1000;
}

/**
 * Epoch milliseconds of the next check: `checkedAt` plus the interval, or the end of a back-off if
 * that is later. Without a record (variants cached before revalidation, or a record lost), now.
 */
export function nextCheckAt(record: OriginRecord | undefined, policy: RevalidationPolicy): number {
  if (!record) return 0;
  return Math.max(record.checkedAt + checkIntervalMs(record, policy), record.retryAt ?? 0);
}

/** Whether the original is due for a check at `now`. */
export function isDue(record: OriginRecord | undefined, policy: RevalidationPolicy, now: number): boolean {
  return now >= nextCheckAt(record, policy);
}

/**
 * Whole seconds from `now` until the next check, never below 0: what a response may be kept for, so
 * that no client keeps a variant longer than the server does before it asks the origin again.
 */
export function secondsUntilCheck(
  record: OriginRecord | undefined,
  policy: RevalidationPolicy,
  now: number,
): number {
  return Math.max(0, Math.floor((nextCheckAt(record, policy) - now) / 1000));
}

/**
 * Seconds to wait after the `failures`-th failed check in a row: 60 s, doubled with each failure, at
 * most an hour, and never longer than `revalidateAfter` (a route that checks every few seconds
 * retries as often).
 */
export function backoffSeconds(failures: number, revalidateAfter: number): number {
  const doubled = FIRST_BACKOFF_SECONDS * 2 ** Math.min(Math.max(failures - 1, 0), 16);
  return Math.max(1, Math.min(doubled, MAX_BACKOFF_SECONDS, revalidateAfter));
}

/** The validators of `record` worth a conditional load: an ETag or a date for URLs, mtime and size for files. */
export function conditionalValidators(record: OriginRecord | undefined): SourceValidators | undefined {
  if (!record) return undefined;
  const validators: SourceValidators = {};
  if (record.etag !== undefined) validators.etag = record.etag;
  if (record.lastModified !== undefined) validators.lastModified = record.lastModified;
  if (record.mtimeMs !== undefined && record.size !== undefined) {
    validators.mtimeMs = record.mtimeMs;
    validators.size = record.size;
  }
  return Object.keys(validators).length > 0 ? validators : undefined;
}

/** `record` without its `undefined` fields (as JSON would keep it). */
export function compactRecord(record: OriginRecord): OriginRecord {
  const compact: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) compact[key] = value;
  return compact as unknown as OriginRecord;
}

const STRING_FIELDS = ['etag', 'lastModified', 'hash'] as const;
const NUMBER_FIELDS = ['maxAge', 'mtimeMs', 'size', 'failures', 'retryAt'] as const;

/** The record in `text` (JSON, as {@link serializeOriginRecord} wrote it); `undefined` for anything else. */
export function parseOriginRecord(text: string | null | undefined): OriginRecord | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return originRecordOf(value);
}

/** `value` if it has the shape of an {@link OriginRecord} (only its known fields kept), else `undefined`. */
export function originRecordOf(value: unknown): OriginRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const given = value as Record<string, unknown>;
  if (typeof given.checkedAt !== 'number' || !Number.isFinite(given.checkedAt)) return undefined;
  const record: OriginRecord = { checkedAt: given.checkedAt };
  for (const field of STRING_FIELDS) {
    if (typeof given[field] === 'string') record[field] = given[field];
  }
  for (const field of NUMBER_FIELDS) {
    const number = given[field];
    if (typeof number === 'number' && Number.isFinite(number)) record[field] = number;
  }
  return record;
}

/** The record as the Redis and cache-manager caches store it: JSON of its defined fields. */
export function serializeOriginRecord(record: OriginRecord): string {
  return JSON.stringify(compactRecord(record));
}

/**
 * The key under which a shared cache keeps the record of `group`, and the key of the lock of its
 * check: `<prefix><cacheKey>#origin` and `...#origin#lock` for a group key `<prefix><cacheKey>#variants`
 * (in a Redis Cluster the `{cacheKey}` hash tag comes along, so both are in the group's slot). No
 * variant key, group key or variant lock can be one of them (a cacheKey never holds `#`).
 */
export function originKeys(group: string): { record: string; lock: string } {
  const base = group.endsWith('#variants') ? group.slice(0, -'#variants'.length) : group;
  return { record: `${base}#origin`, lock: `${base}#origin#lock` };
}
