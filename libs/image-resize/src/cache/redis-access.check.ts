import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import type { CacheProblemKind } from './image-cache.interface';
import { closeRedisClient } from './redis-client.factory';
import { accessProblem, accessRefusalOf, type AccessGaps, type RedisProblem } from './redis-problem';
import { redisProblemTrackerOf, trackRedisProblems } from './redis-problem.tracker';

/**
 * Every command the Redis cache sends, in the order a report lists the missing ones: reads (`GET`,
 * for images with `GETBUFFER`, and origin records), stores (`PTTL`, which tells a replaced entry from
 * a new one, `SET ... PX`, `SADD`, `PEXPIRE ... NX|GT` in a `MULTI`/`EXEC`), locks (`SET ... PX NX`),
 * the scripts run with `EVAL` (purge: `SMEMBERS`, `DEL`; unlock: `GET`, `DEL`, and `PUBLISH` when
 * instances wait for it; a wait: `PTTL`, `SET`; origin records: `PTTL`, `SET`; the hot tier's
 * announcements: `PUBLISH`), health checks (`PING`), and the hot tier's invalidations (`PUBLISH`, and
 * `SUBSCRIBE` on a connection of its own, which on a Cluster also `PING`s its node).
 */
export const REDIS_CACHE_COMMANDS = [
  'PING',
  'GET',
  'SET',
  'PTTL',
  'SMEMBERS',
  'SADD',
  'PEXPIRE',
  'DEL',
  'MULTI',
  'EXEC',
  'EVAL',
  'PUBLISH',
  'SUBSCRIBE',
] as const;

type Command = (typeof REDIS_CACHE_COMMANDS)[number];

/** Milliseconds the probe key lives, should the check be cut short before it deletes it. */
const PROBE_TTL_MS = 10_000;
/** Milliseconds the connection that checks SUBSCRIBE may take to connect. */
const SUBSCRIBER_READY_MS = 3000;

/** What a reply says of the command that got it: allowed, refused (and what of it), or unknown. */
type Verdict = { allowed: true } | { allowed: false; gaps: Partial<AccessGaps> } | undefined;

/** The verdict of `result` (a reply, or a rejection) for `command`. */
function verdictOf(command: Command, result: PromiseSettledResult<unknown>): Verdict {
  if (result.status === 'fulfilled') return { allowed: true };
  const refusal = accessRefusalOf(result.reason);
  if (refusal) {
    return {
      allowed: false,
      gaps: {
        commands:
          refusal.commands.length > 0 || refusal.keys || refusal.channel ? refusal.commands : [command],
        keys: refusal.keys,
        channel: refusal.channel,
      },
    };
  }
  const message = (result.reason as { message?: unknown } | null)?.message;
  const text = typeof message === 'string' ? message : '';
  // WRONGTYPE: Redis ran it (on a key of another type, as the check meant): it is allowed.
  if (/^WRONGTYPE\b/.test(text)) return { allowed: true };
  if (command === 'PEXPIRE' && /wrong number of arguments|syntax error|unsupported option/i.test(text)) {
    return { allowed: false, gaps: { tooOld: true } };
  }
  // Anything else (a timeout, a READONLY replica, a failover) says nothing of the ACL.
  return undefined;
}

/** Settles `promise`, never rejecting. */
const settle = <T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> =>
  promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );

/**
 * Checks that Redis lets this client do what the cache does: sends each command the cache uses once,
 * on a probe key of its own under `keyPrefix` (`<keyPrefix>#probe:<uuid>`, which no cache key can be),
 * and `PUBLISH`es (and, on a connection of its own, `SUBSCRIBE`s) on `channel` when the hot tier is on.
 * Redis checks a command's ACL before it runs it, so the replies say what is refused (`NOPERM`) without
 * anything being stored: the probe key is a string that lives 10 s at most and is deleted at the end;
 * the set commands meet it as a string (`WRONGTYPE`: allowed); `SADD` on a key of its own runs only
 * inside a transaction that Redis discards whole if anything in it is refused. `PEXPIRE ... NX`
 * refused as a syntax error means a Redis older than 7.0. Three round trips, one short connection.
 *
 * Resolves to what is missing, or `undefined` when the check could not run (Redis not answering): a
 * reply that says nothing of the ACL (a timeout, a replica) counts as allowed.
 */
export async function checkRedisAccess(
  client: Redis | Cluster,
  names: { keyPrefix: string; channel?: string },
): Promise<AccessGaps | undefined> {
  const key = `${names.keyPrefix}#probe:${randomUUID()}`;
  const gaps: AccessGaps = { commands: [], keys: false, channel: false, tooOld: false };
  const verdicts = new Map<Command, Verdict>();
  const note = (command: Command, result: PromiseSettledResult<unknown>) => {
    const verdict = verdictOf(command, result);
    verdicts.set(command, verdict);
    if (verdict?.allowed !== false) return;
    for (const name of verdict.gaps.commands ?? []) {
      if (!gaps.commands.includes(name)) gaps.commands.push(name);
    }
    gaps.keys ||= verdict.gaps.keys ?? false;
    gaps.channel ||= verdict.gaps.channel ?? false;
    gaps.tooOld ||= verdict.gaps.tooOld ?? false;
  };

  // First round trip: nothing here can leave anything behind but the probe key, which expires.
  const [ping, set, get, pttl, smembers, pexpireNx, pexpireGt, evaluated, published, transaction] =
    await Promise.all([
      settle(client.ping()),
      settle(client.set(key, 'probe', 'PX', PROBE_TTL_MS, 'NX')),
      settle(client.get(key)),
      settle(client.pttl(key)),
      settle(client.smembers(key)),
      settle(client.pexpire(key, PROBE_TTL_MS, 'NX')),
      settle(client.pexpire(key, PROBE_TTL_MS, 'GT')),
      settle(client.eval('return 1', 1, key)),
      names.channel === undefined ? undefined : settle(client.publish(names.channel, 'probe')),
      settle(client.multi().pttl(key).exec()),
    ]);
  // Redis did not answer (not connected, a timeout): nothing can be told now.
  if (ping.status === 'rejected' && !accessRefusalOf(ping.reason)) return undefined;
  note('PING', ping);
  note('SET', set);
  note('GET', get);
  note('PTTL', pttl);
  note('SMEMBERS', smembers);
  note('PEXPIRE', pexpireNx.status === 'rejected' ? pexpireNx : pexpireGt);
  note('EVAL', evaluated);
  if (published) note('PUBLISH', published);
  noteTransaction(transaction, note);

  // Second round trip: SADD and DEL.
  const transactions = verdicts.get('MULTI')?.allowed !== false && verdicts.get('EXEC')?.allowed !== false;
  if (set.status === 'fulfilled' && set.value === 'OK') {
    // The probe key is a string now: SADD meets it as one (WRONGTYPE), and DEL removes it.
    const [sadd, del] = await Promise.all([settle(client.sadd(key, 'probe')), settle(client.del(key))]);
    note('SADD', sadd);
    note('DEL', del);
  } else if (transactions) {
    // No probe key: SADD would make one, so SADD and DEL go in a transaction, which Redis runs whole
    // (the key made, then deleted) or not at all when it refuses either.
    noteTransactionOf(await settle(client.multi().sadd(key, 'probe').del(key).exec()), ['SADD', 'DEL'], note);
  }

  // Third: SUBSCRIBE, which the hot tier sends on a connection of its own.
  if (names.channel !== undefined) {
    const subscribed = await checkSubscribe(client, names.channel);
    if (subscribed) note('SUBSCRIBE', subscribed);
  }

  gaps.commands.sort(
    (a, b) => REDIS_CACHE_COMMANDS.indexOf(a as Command) - REDIS_CACHE_COMMANDS.indexOf(b as Command),
  );
  return gaps;
}

/** MULTI, PTTL, EXEC sent together: what the outcome says of MULTI and EXEC. */
function noteTransaction(
  result: PromiseSettledResult<unknown>,
  note: (command: Command, result: PromiseSettledResult<unknown>) => void,
): void {
  if (result.status === 'fulfilled') {
    note('MULTI', result);
    note('EXEC', result);
    return;
  }
  const refusal = accessRefusalOf(result.reason);
  if (!refusal) return;
  const rejected = { status: 'rejected', reason: result.reason } as const;
  const allowed = { status: 'fulfilled', value: undefined } as const;
  note('MULTI', refusal.commands.includes('MULTI') ? rejected : allowed);
  note('EXEC', refusal.commands.includes('EXEC') ? rejected : allowed);
}

/** A transaction of `commands`: refused whole, or run. */
function noteTransactionOf(
  result: PromiseSettledResult<unknown>,
  commands: Command[],
  note: (command: Command, result: PromiseSettledResult<unknown>) => void,
): void {
  const refusal = result.status === 'rejected' ? accessRefusalOf(result.reason) : undefined;
  for (const command of commands) {
    const refused =
      refusal && (refusal.keys || refusal.commands.includes(command))
        ? ({ status: 'rejected', reason: result.status === 'rejected' ? result.reason : undefined } as const)
        : ({ status: 'fulfilled', value: undefined } as const);
    note(command, refused);
  }
}

/**
 * SUBSCRIBE on `channel`, on a connection of its own (a subscribed connection takes no other command),
 * closed at once. `undefined` when that connection could not be made in time.
 */
async function checkSubscribe(
  client: Redis | Cluster,
  channel: string,
): Promise<PromiseSettledResult<unknown> | undefined> {
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  try {
    const ready = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        subscriber.off('ready', onReady);
        client.off('end', onEnd);
        resolve(ok);
      };
      const onReady = () => done(true);
      // The module's connection closed meanwhile (the application stops): no need to go on.
      const onEnd = () => done(false);
      const timer = setTimeout(() => done(false), SUBSCRIBER_READY_MS);
      subscriber.once('ready', onReady);
      client.once('end', onEnd);
    });
    if (!ready) return undefined;
    return await settle(subscriber.subscribe(channel));
  } finally {
    await closeRedisClient(subscriber);
  }
}

/** How long boot waits for the first connection (with `requireCache`, a connection's timeout if longer). */
const BOOT_WAIT_MS = 3000;

/** What follows each kind of problem in the error that stops the boot: where to look. */
const BOOT_HINTS: Partial<Record<CacheProblemKind, string>> = {
  network: 'check the host and port in option "redis", and that Redis is running',
};

/**
 * The module's check of its Redis at boot: waits for the first connection (at most 3 s; a problem
 * that waiting will not fix, such as a wrong password, ends the wait at once), then checks what the
 * ACL allows (see {@link checkRedisAccess}). Every problem found is logged once with its kind and
 * shown by the cache's `state()`. With `requireCache`, any problem — Redis out of reach included —
 * rejects with an {@link ImageResizeConfigError} that names its kind and what to fix; the wait then
 * lasts up to the connection's `connectTimeout` and half a second (if that is longer than 3 s), so that
 * a TLS handshake that never ends is told from a slow network.
 */
export async function checkRedisAtBoot(
  client: Redis | Cluster,
  options: { keyPrefix: string; channel?: string; requireCache: boolean },
): Promise<void> {
  const tracker = redisProblemTrackerOf(client) ?? trackRedisProblems(client);
  const names = { keyPrefix: options.keyPrefix, channel: options.channel };
  tracker.useAccessCheck(async () => {
    const gaps = await checkRedisAccess(client, names);
    return gaps && { problem: accessProblem(gaps, names) };
  });
  const waitMs = options.requireCache ? Math.max(BOOT_WAIT_MS, connectTimeoutOf(client) + 500) : BOOT_WAIT_MS;
  await tracker.settled(waitMs);
  await tracker.checkAccess();
  if (!options.requireCache) return;
  const problem: RedisProblem | undefined =
    tracker.problem ??
    (client.status === 'ready'
      ? undefined
      : { kind: 'network', message: `Redis did not answer within ${waitMs} ms` });
  if (!problem) return;
  const hint = BOOT_HINTS[problem.kind];
  throw new ImageResizeConfigError(
    `Redis cannot be used (${problem.kind}): ${problem.message}${hint ? `: ${hint}` : ''}; option "requireCache" stops the boot when Redis cannot be used`,
  );
}

/** The `connectTimeout` of the client's connections. */
function connectTimeoutOf(client: Redis | Cluster): number {
  const options = client.options as { connectTimeout?: number; redisOptions?: { connectTimeout?: number } };
  return options.connectTimeout ?? options.redisOptions?.connectTimeout ?? 10_000;
}
