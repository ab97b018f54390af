import { accessProblem, classifyRedisError } from './redis-problem';

/** An error as ioredis or Node makes it: a name, a message and the extra fields given. */
function error(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(Object.assign(new Error(message), { name }), extra);
}
const reply = (message: string, extra: Record<string, unknown> = {}) => error('ReplyError', message, extra);
const socket = (code: string, message: string, extra: Record<string, unknown> = {}) =>
  error('Error', message, { code, ...extra });

/** No message holds an address, a port, a user name or a password. */
function expectSafe(message: string): void {
  expect(message).not.toMatch(/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|:\d{2,5}\b|s3cr3t|bob/);
}

describe('classifyRedisError', () => {
  it.each([
    // What ioredis emits on this machine (Redis 7.0) for each misconfiguration.
    [
      'a wrong password',
      reply('WRONGPASS invalid username-password pair or user is disabled.', {
        command: { name: 'auth', args: ['bob', 's3cr3t'] },
      }),
      {},
      'auth',
      /^Redis refused the username or password \(WRONGPASS\): check them in option "redis"$/,
    ],
    [
      'no password where one is needed',
      reply('NOAUTH Authentication required.'),
      {},
      'auth',
      /^Redis needs a password \(NOAUTH\): .*option "redis"/,
    ],
    [
      'a Redis before 6 and a wrong password',
      reply('ERR invalid password'),
      {},
      'auth',
      /^Redis refused the username or password/,
    ],
    [
      'rediss:// without the CA of a self-signed certificate',
      socket('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'),
      { tls: true },
      'tls',
      /^Redis's TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): give its CA in option "redis" \(tls: \{ ca \}\)$/,
    ],
    [
      'rediss:// without the CA of a private CA',
      socket('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      { tls: true },
      'tls',
      /not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    ],
    [
      'a certificate for another name',
      socket(
        'ERR_TLS_CERT_ALTNAME_INVALID',
        "Hostname/IP does not match certificate's altnames: IP: 10.1.2.3 is not in the cert's list: ",
      ),
      { tls: true },
      'tls',
      /does not name the host connected to \(ERR_TLS_CERT_ALTNAME_INVALID\).*servername/,
    ],
    [
      'rediss:// to a port that answers plaintext',
      socket(
        'EPROTO',
        'C0B7A1F7:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/ssl/record/ssl3_record.c:354:',
      ),
      { tls: true },
      'tls',
      /^TLS handshake failed: wrong version number \(EPROTO\): .*redis:\/\/ rather than rediss:\/\//,
    ],
    [
      'rediss:// to a Redis port without TLS (it never answers the handshake)',
      socket('ETIMEDOUT', 'connect ETIMEDOUT'),
      { tls: true, connectedUnanswered: true },
      'tls',
      /^TLS handshake unanswered \(ETIMEDOUT\): .*redis:\/\/ rather than rediss:\/\//,
    ],
    [
      'plaintext to a TLS port (Redis resets the connection)',
      socket('ECONNRESET', 'read ECONNRESET'),
      { connectedUnanswered: true },
      'tls',
      /^Redis closed the connection before answering \(ECONNRESET\): .*rediss:\/\//,
    ],
    [
      'a connection refused',
      socket('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:6379'),
      {},
      'network',
      /^connection refused \(ECONNREFUSED\)$/,
    ],
    [
      'a connection that is not made in time',
      socket('ETIMEDOUT', 'connect ETIMEDOUT'),
      { tls: true },
      'network',
      /^connection timed out \(ETIMEDOUT\)$/,
    ],
    [
      'a connection reset once Redis had answered',
      socket('ECONNRESET', 'read ECONNRESET'),
      {},
      'network',
      /^connection reset \(ECONNRESET\)$/,
    ],
    [
      'a host that does not resolve',
      socket('ENOTFOUND', 'getaddrinfo ENOTFOUND redis.internal'),
      {},
      'network',
      /ENOTFOUND/,
    ],
    [
      'every sentinel unreachable',
      error('Error', 'All sentinels are unreachable. Retrying from scratch after 10ms.'),
      {},
      'network',
      /^every sentinel is unreachable$/,
    ],
    [
      'a command the ACL does not allow',
      reply("NOPERM this user has no permissions to run the 'eval' command", {
        command: { name: 'eval', args: ["local members = redis.call('SMEMBERS', KEYS[1])", '1', 'k'] },
      }),
      {},
      'permission',
      /^the Redis user may not run EVAL \(NOPERM\)/,
    ],
    [
      'a command the ACL does not allow, as Redis 7.2 says it',
      reply("NOPERM User bob has no permissions to run the 'publish' command"),
      {},
      'permission',
      /^the Redis user may not run PUBLISH \(NOPERM\)/,
    ],
    [
      'a key outside the ACL',
      reply('NOPERM this user has no permissions to access one of the keys used as arguments'),
      {},
      'permission',
      /^the Redis user may not use the cache's keys \(NOPERM\)/,
    ],
    [
      'a channel outside the ACL',
      reply('NOPERM this user has no permissions to access one of the channels used as arguments'),
      {},
      'permission',
      /^the Redis user may not use the cache's channel \(NOPERM\)/,
    ],
    [
      'a command refused inside a script',
      reply(
        "ERR The user executing the script can't run this command or subcommand script: 823436eccc5982038a49464ff4335fd1a8d2db9b, on @user_script:1.",
      ),
      {},
      'permission',
      /^the Redis user may not run a command of the library's scripts \(NOPERM\)/,
    ],
    [
      'a transaction refused',
      reply(
        "EXECABORT Transaction discarded because of: NOPERM this user has no permissions to run the 'exec' command",
      ),
      {},
      'permission',
      /may not run EXEC/,
    ],
    [
      'a transaction with a refused command',
      reply('EXECABORT Transaction discarded because of previous errors.', {
        previousErrors: [reply("NOPERM this user has no permissions to run the 'multi' command")],
      }),
      {},
      'permission',
      /may not run MULTI/,
    ],
    [
      'a cluster whose every node refused the password',
      error('ClusterAllFailedError', 'Failed to refresh slots cache.', {
        lastNodeError: reply('WRONGPASS invalid username-password pair or user is disabled.'),
      }),
      {},
      'auth',
      /WRONGPASS/,
    ],
    ['anything else', reply('ERR max number of clients reached'), {}, 'unknown', /^ReplyError ERR$/],
  ])('%s', (_what, given, context, kind, message) => {
    const problem = classifyRedisError(given, context);
    expect(problem?.kind).toBe(kind);
    expect(problem?.message).toMatch(message);
    expectSafe(problem?.message ?? '');
    expect(problem?.message).not.toMatch(/redis\.call|SMEMBERS/);
  });

  it('says nothing of errors that only echo an earlier one', () => {
    for (const echo of [
      error('Error', "Stream isn't writeable and enableOfflineQueue options is false"),
      error('Error', 'Connection is closed.'),
      error('MaxRetriesPerRequestError', 'Reached the max retries per request limit (which is 1).'),
    ]) {
      expect(classifyRedisError(echo)).toBeUndefined();
    }
  });
});

describe('accessProblem', () => {
  const names = { keyPrefix: 'img_', channel: 'img_invalidate' };

  it('names every command, the keys and the channel refused, and how to grant them', () => {
    const problem = accessProblem(
      { commands: ['EVAL', 'PUBLISH', 'SUBSCRIBE'], keys: true, channel: true, tooOld: false },
      names,
    );
    expect(problem).toEqual({
      kind: 'permission',
      message:
        'the Redis user may not run EVAL, PUBLISH and SUBSCRIBE, nor use keys matching "img_*", nor the channel "img_invalidate" (NOPERM): grant them in its ACL (see "Minimal Redis ACL" in the README)',
    });
  });

  it('says when Redis is older than the cache needs', () => {
    expect(accessProblem({ commands: [], keys: false, channel: false, tooOld: true }, names)).toEqual({
      kind: 'unknown',
      message: 'Redis refused PEXPIRE ... NX: the cache needs Redis 7.0 or later',
    });
  });

  it('is nothing when nothing is missing', () => {
    expect(
      accessProblem({ commands: [], keys: false, channel: false, tooOld: false }, names),
    ).toBeUndefined();
  });
});
