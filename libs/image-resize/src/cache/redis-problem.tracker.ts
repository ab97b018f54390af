import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { classifyRedisError, closedBeforeAnswerProblem, type RedisProblem } from './redis-problem';

/** What a check of Redis's ACL found: a problem, none (`{}`), or `undefined` when it could not run. */
export type AccessCheck = () => Promise<{ problem?: RedisProblem } | undefined>;

/** Milliseconds between checks of the ACL while it refuses something. */
const RECHECK_MS = 30_000;

/**
 * The problems of one Redis client, as the module's connection sees them: a connection problem
 * (`auth`, `tls`, `network`...) while the client cannot connect, and a `permission` problem while the
 * ACL refuses something the cache needs. Each is logged once, with its kind, and shown by
 * {@link RedisProblemTracker.problem} (the cache's `state()`, hence `health()`) while it lasts: a
 * connection problem until the client is ready again; a permission problem until a check of the ACL
 * finds nothing missing (the check runs at boot, on every reconnection and every 30 s while it lasts).
 */
export class RedisProblemTracker {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private connection?: RedisProblem;
  /** The kind of connection problem logged in this outage (logged again only when it changes). */
  private loggedConnection?: string;
  private access?: RedisProblem;
  private loggedAccess?: string;
  private accessCheck?: AccessCheck;
  private accessChecked = false;
  private checking?: Promise<void>;
  private recheckTimer?: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly client: Redis | Cluster,
    private readonly recheckMs = RECHECK_MS,
  ) {}

  /** The problem now, if any: the connection's first, else the ACL's. */
  get problem(): RedisProblem | undefined {
    return this.connection ?? this.access;
  }

  /** The client could not connect, or lost its connection. */
  connectionFailed(problem: RedisProblem): void {
    this.connection = problem;
    if (this.loggedConnection !== problem.kind) {
      this.loggedConnection = problem.kind;
      this.logger.warn(
        `Redis unavailable, serving images without the cache (${problem.kind}): ${problem.message}`,
      );
    }
    this.notify();
  }

  /** The client is connected and Redis answers. */
  connectionReady(): void {
    if (this.loggedConnection !== undefined) this.logger.log('Redis available again, caching resumed');
    this.connection = undefined;
    this.loggedConnection = undefined;
    this.notify();
    if (this.accessCheck && (!this.accessChecked || this.access)) void this.checkAccess();
  }

  /** Redis refused a command the cache sent (an ACL): shown until a check of the ACL finds nothing missing. */
  commandRefused(problem: RedisProblem): void {
    this.access ??= problem;
    this.scheduleRecheck();
  }

  /** How the ACL is checked (at boot, on reconnections, and while it refuses something). */
  useAccessCheck(check: AccessCheck): void {
    this.accessCheck = check;
  }

  /** Checks the ACL now (or waits for the check under way); logs what it finds missing once. */
  checkAccess(): Promise<void> {
    const check = this.accessCheck;
    if (!check || this.client.status !== 'ready') return Promise.resolve();
    this.checking ??= check()
      .then((outcome) => {
        if (outcome === undefined) return; // Redis did not answer: nothing learnt.
        this.accessChecked = true;
        this.accessFound(outcome.problem);
      })
      .catch(() => undefined)
      .finally(() => {
        this.checking = undefined;
        this.scheduleRecheck();
      });
    return this.checking;
  }

  /**
   * Resolves once the client is ready, or has met a problem that waiting will not fix (anything but
   * `network`), or after `ms`.
   */
  settled(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.client.status === 'ready' || (this.connection && this.connection.kind !== 'network')) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(check);
      check();
    });
  }

  /** Stops the checks of the ACL (the client has ended). */
  stop(): void {
    clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
  }

  private accessFound(problem: RedisProblem | undefined): void {
    this.access = problem;
    if (problem && problem.message !== this.loggedAccess) {
      this.logger.warn(`Redis refuses what the cache needs (${problem.kind}): ${problem.message}`);
    } else if (!problem && this.loggedAccess !== undefined) {
      this.logger.log('Redis allows what the cache needs again');
    }
    this.loggedAccess = problem?.message;
  }

  /** While the ACL refuses something, checks it again every `recheckMs`. */
  private scheduleRecheck(): void {
    if (!this.access || this.recheckTimer || this.checking || this.client.status === 'end') return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      void this.checkAccess();
    }, this.recheckMs);
    this.recheckTimer.unref();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

const trackers = new WeakMap<Redis | Cluster, RedisProblemTracker>();

/** The tracker of a client that the `redis` option made, if `client` is one. */
export function redisProblemTrackerOf(client: Redis | Cluster): RedisProblemTracker | undefined {
  return trackers.get(client);
}

/** The problem of `client` now, if it is a client that the `redis` option made and it has one. */
export function redisProblemOf(client: Redis | Cluster): RedisProblem | undefined {
  return trackers.get(client)?.problem;
}

/** Notes that Redis refused a command of the cache (an ACL refusal): shown until a check finds nothing missing. */
export function noteRedisRefusal(client: Redis | Cluster, problem: RedisProblem): void {
  trackers.get(client)?.commandRefused(problem);
}

/** Whether the client connects with TLS. */
function usesTls(client: Redis | Cluster): boolean {
  const options = client.options as { tls?: unknown; redisOptions?: { tls?: unknown } };
  return Boolean(options.tls ?? options.redisOptions?.tls);
}

/**
 * Follows `client`'s connection: each error is classified (see `classifyRedisError`) and reported to
 * a {@link RedisProblemTracker}, which logs it once per outage and kind. Connection attempts are
 * followed closely enough to tell TLS on one side only: a TCP connection that ends (or whose TLS
 * handshake times out) before Redis has answered anything.
 */
export function trackRedisProblems(client: Redis | Cluster): RedisProblemTracker {
  const tracker = new RedisProblemTracker(client);
  trackers.set(client, tracker);
  const tls = usesTls(client);
  /** The connection attempt under way. */
  let attempt = { tcp: false, connected: false, answered: false, failed: false };
  client.on('connecting', () => {
    const current = { tcp: false, connected: false, answered: false, failed: false };
    attempt = current;
    const previous = (client as Partial<Redis>).stream;
    // ioredis makes the socket in the ticks that follow; by the next turn of the loop it is there,
    // connected or not yet (a TLS socket: its TCP connection, before the handshake).
    setImmediate(() => {
      const stream = (client as Partial<Redis>).stream;
      if (!stream || stream === previous) return;
      if (stream.connecting) stream.once('connect', () => void (current.tcp = true));
      else if (!stream.destroyed) current.tcp = true;
    });
  });
  client.on('connect', () => {
    attempt.tcp = true;
    attempt.connected = true;
  });
  client.on('ready', () => {
    attempt.answered = true;
    tracker.connectionReady();
  });
  client.on('error', (error: unknown) => {
    const problem = classifyRedisError(error, {
      tls,
      connectedUnanswered: attempt.tcp && !attempt.answered && !attempt.failed,
    });
    if (!problem) return;
    attempt.failed = true;
    tracker.connectionFailed(problem);
  });
  client.on('close', () => {
    // Connected, then closed by the server before it answered anything, and without an error: a
    // TLS port meeting plaintext (Redis's own resets the connection: see 'error').
    if (attempt.connected && !attempt.answered && !attempt.failed && client.status !== 'end') {
      attempt.failed = true;
      tracker.connectionFailed(closedBeforeAnswerProblem());
    }
  });
  client.on('end', () => tracker.stop());
  return tracker;
}
