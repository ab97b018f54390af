import { describeErrorCause } from '../errors/image-resize.errors';
import type { CacheProblemKind } from './image-cache.interface';

/**
 * Why Redis cannot be used, by what would fix it: its kind, and a message for logs and health checks
 * that says what went wrong and what to change. A message never holds an address, a port, a user
 * name, a password or anything of Redis's reply beyond its code (`WRONGPASS`, `NOPERM`).
 */
export interface RedisProblem {
  kind: CacheProblemKind;
  message: string;
}

/** What was known of the connection when an error came. */
export interface RedisErrorContext {
  /** The connection is made with TLS (`rediss://`, or the option `tls`). */
  tls?: boolean;
  /**
   * The TCP connection was up and Redis had not answered yet: a connection that ends then (or a TLS
   * handshake that times out then) is TLS on one side only.
   */
  connectedUnanswered?: boolean;
}

/** Where to look in option "redis". */
const IN_OPTION = 'in option "redis"';
/** For a TLS port met without TLS, or the reverse. */
const USE_PLAIN = `use redis:// rather than rediss:// (or drop "tls") ${IN_OPTION}`;
const USE_TLS = `use rediss:// (or set "tls") ${IN_OPTION}`;
/** Where every permission problem sends the reader. */
const GRANT = 'grant them in its ACL (see "Minimal Redis ACL" in the README)';

/** Errors that only repeat an earlier one (the connection is gone, a retry gave up). */
const ECHO =
  /^(Stream isn't writeable|Connection is closed|Reached the max retries per request limit|Command timed out)/;

/** Node's and OpenSSL's codes of a certificate that is not trusted. */
const UNTRUSTED_CERT =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT(_LOCALLY)?|VERIFY_LEAF_SIGNATURE|GET_CRL)|CERT_UNTRUSTED|CERT_REJECTED|CERT_SIGNATURE_FAILURE|INVALID_CA)$/;
const EXPIRED_CERT = /^(CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/;

/** Codes of a Redis that cannot be reached: a network problem (or Redis not running). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'ENODATA',
  'ENOENT', // a Unix socket path that does not exist
]);

interface ErrorFields {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  lastNodeError?: unknown;
  previousErrors?: unknown;
}

const fieldsOf = (error: unknown): ErrorFields =>
  typeof error === 'object' && error !== null ? (error as ErrorFields) : {};
const messageOf = (error: unknown): string => {
  const { message } = fieldsOf(error);
  return typeof message === 'string' ? message : '';
};
/** The first code (`ECONNREFUSED`, `DEPTH_ZERO_SELF_SIGNED_CERT`...) in the error and its causes. */
function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; depth < 6 && typeof current === 'object' && current; depth++) {
    const { code, cause } = fieldsOf(current);
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,60}$/.test(code)) return code;
    current = cause;
  }
  return undefined;
}

/** What a refusal by Redis's ACL says it refused. */
export interface AccessRefusal {
  /** Commands refused, upper case (`EVAL`, `ACL|DRYRUN`). */
  commands: string[];
  /** A key refused. */
  keys: boolean;
  /** A channel refused. */
  channel: boolean;
  /** A command inside one of the library's scripts refused (Redis does not say which). */
  inScript: boolean;
}

/**
 * What an ACL refusal in `error` (a reply, a transaction's, or one of its earlier errors) refused, or
 * `undefined` when it is no ACL refusal. Reads Redis's words, never repeats them: from 7.2 they name
 * the user.
 */
export function accessRefusalOf(error: unknown): AccessRefusal | undefined {
  const { previousErrors } = fieldsOf(error);
  const messages = [error, ...(Array.isArray(previousErrors) ? previousErrors : [])].map(messageOf);
  const refusal: AccessRefusal = { commands: [], keys: false, channel: false, inScript: false };
  let found = false;
  for (const message of messages) {
    if (/\bNOPERM\b/.test(message)) {
      found = true;
      const command = /permissions to run the '([\w|-]{1,60})' command/.exec(message)?.[1];
      if (command) refusal.commands.push(command.toUpperCase());
      if (/access one of the keys/.test(message)) refusal.keys = true;
      if (/access one of the channels/.test(message)) refusal.channel = true;
      if (/\bscript\b/.test(message)) refusal.inScript = true;
    } else if (/user executing the script can't run|ACL failure in script/.test(message)) {
      found = true;
      refusal.inScript = true;
    }
  }
  return found ? refusal : undefined;
}

/** `A`, `A and B`, `A, B and C`. */
function listed(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** The message of a permission problem: what the user may not do, and how to fix it. */
function permissionMessage(parts: {
  commands: string[];
  keys?: string;
  channel?: string;
  inScript?: boolean;
}): string {
  const refused: string[] = [];
  if (parts.commands.length > 0) refused.push(`run ${listed(parts.commands)}`);
  if (parts.inScript) refused.push(`run a command of the library's scripts`);
  let used = false;
  for (const what of [parts.keys, parts.channel]) {
    if (what === undefined) continue;
    refused.push(used ? what : `use ${what}`);
    used = true;
  }
  return `the Redis user may not ${refused.join(', nor ')} (NOPERM): ${GRANT}`;
}

/**
 * The problem that `error` (from ioredis, or Node's socket under it) shows, by kind: `auth`, `tls`,
 * `permission`, `network` or `unknown`. `undefined` for errors that only echo an earlier one (the
 * stream is not writeable, the connection is closed, a command gave up): they tell nothing new.
 */
export function classifyRedisError(
  error: unknown,
  context: RedisErrorContext = {},
): RedisProblem | undefined {
  const fields = fieldsOf(error);
  // A Cluster that could not load its slots says why in the last node's error.
  if (fields.lastNodeError !== undefined && fields.lastNodeError !== null) {
    const problem = classifyRedisError(fields.lastNodeError, context);
    if (problem) return problem;
  }
  const message = messageOf(error);
  if (ECHO.test(message) || fields.name === 'MaxRetriesPerRequestError') return undefined;

  if (/^WRONGPASS\b|^ERR invalid (password|username-password)/.test(message)) {
    return {
      kind: 'auth',
      message: `Redis refused the username or password (WRONGPASS): check them ${IN_OPTION}`,
    };
  }
  if (/^NOAUTH\b/.test(message)) {
    return {
      kind: 'auth',
      message: `Redis needs a password (NOAUTH): set "password" (and "username" for an ACL user) ${IN_OPTION}`,
    };
  }
  const refusal = accessRefusalOf(error);
  if (refusal) {
    return {
      kind: 'permission',
      message: permissionMessage({
        commands: refusal.commands,
        keys: refusal.keys ? `the cache's keys` : undefined,
        channel: refusal.channel ? `the cache's channel` : undefined,
        inScript: refusal.inScript && refusal.commands.length === 0,
      }),
    };
  }

  const code = codeOf(error);
  if (code !== undefined) {
    if (UNTRUSTED_CERT.test(code)) {
      return {
        kind: 'tls',
        message: `Redis's TLS certificate is not trusted (${code}): give its CA ${IN_OPTION} (tls: { ca })`,
      };
    }
    if (EXPIRED_CERT.test(code)) {
      return {
        kind: 'tls',
        message: `Redis's TLS certificate is out of its validity dates (${code}): renew it on the server`,
      };
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return {
        kind: 'tls',
        message: `Redis's TLS certificate does not name the host connected to (${code}): connect by a name it holds, or set tls.servername ${IN_OPTION}`,
      };
    }
    if (code === 'EPROTO' || /^ERR_SSL_|^ERR_TLS_/.test(code)) {
      return {
        kind: 'tls',
        message: `${describeErrorCause(error)}: if this Redis port has no TLS, ${USE_PLAIN}`,
      };
    }
    if (context.connectedUnanswered && context.tls && code === 'ETIMEDOUT') {
      return {
        kind: 'tls',
        message: `TLS handshake unanswered (ETIMEDOUT): a Redis port without TLS does not answer one; ${USE_PLAIN}`,
      };
    }
    if (context.connectedUnanswered && !context.tls && (code === 'ECONNRESET' || code === 'EPIPE')) {
      return {
        kind: 'tls',
        message: `Redis closed the connection before answering (${code}): a TLS port does so to plaintext; ${USE_TLS}`,
      };
    }
    if (NETWORK_CODES.has(code)) return { kind: 'network', message: describeErrorCause(error) };
  }
  if (
    /sentinels are unreachable|Failed to refresh slots cache|None of startup nodes is available/.test(message)
  ) {
    return { kind: 'network', message: redisNetworkMessage(message) };
  }
  return { kind: 'unknown', message: describeErrorCause(error) };
}

/** ioredis's words for a Sentinel or Cluster that cannot be reached, without the addresses it adds. */
function redisNetworkMessage(message: string): string {
  if (/sentinels/.test(message)) return 'every sentinel is unreachable';
  if (/startup nodes/.test(message)) return 'no node of the cluster is available';
  return 'the cluster did not give its slots';
}

/** A closed connection that ended before Redis answered anything, without an error: a TLS port met in plaintext. */
export function closedBeforeAnswerProblem(): RedisProblem {
  return {
    kind: 'tls',
    message: `Redis closed the connection before answering: a TLS port does so to plaintext; ${USE_TLS}`,
  };
}

/** What the check at boot found missing (see `checkRedisAccess`). */
export interface AccessGaps {
  /** Commands refused, upper case, in the order the check lists them. */
  commands: string[];
  /** Keys under the key prefix refused. */
  keys: boolean;
  /** The invalidation channel refused. */
  channel: boolean;
  /** Redis refused `PEXPIRE ... NX` as a syntax error: it is older than 7.0. */
  tooOld: boolean;
}

/** The problem of what the check at boot found missing, or `undefined` when nothing is. */
export function accessProblem(
  gaps: AccessGaps,
  names: { keyPrefix: string; channel?: string },
): RedisProblem | undefined {
  if (gaps.commands.length > 0 || gaps.keys || gaps.channel) {
    return {
      kind: 'permission',
      message: permissionMessage({
        commands: gaps.commands,
        keys: gaps.keys ? `keys matching "${names.keyPrefix}*"` : undefined,
        channel: gaps.channel && names.channel ? `the channel "${names.channel}"` : undefined,
      }),
    };
  }
  if (gaps.tooOld) {
    return { kind: 'unknown', message: 'Redis refused PEXPIRE ... NX: the cache needs Redis 7.0 or later' };
  }
  return undefined;
}
