import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from './image-resize.options';

const refusal = (redis: unknown): string => {
  try {
    resolveImageResizeOptions({ redis } as never);
  } catch (error) {
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('the redis option', () => {
  it.each<[string, unknown, string]>([
    ['a typo of host', { hots: 'x', port: 6380 }, '(got the unknown key "hots")'],
    ['a typo of port', { host: 'x', prot: 6380 }, '(got the unknown key "prot")'],
    [
      'a port out of range',
      { port: 70000 },
      'option "redis.port" must be an integer from 1 to 65535 (got the number 70000)',
    ],
    [
      'a port as a string',
      { port: '6379' },
      'option "redis.port" must be an integer from 1 to 65535 (got a string "6379")',
    ],
    ['a negative db', { db: -1 }, 'option "redis.db" must be an integer >= 0 (got the number -1)'],
    [
      'an unknown role',
      { role: 'primary' },
      'option "redis.role" must be one of master, slave (got a string "primary")',
    ],
    [
      'sentinels without the master name',
      { sentinels: [{ host: '127.0.0.1', port: 26379 }] },
      'option "redis.name" must be the master name that the sentinels know',
    ],
    [
      'a sentinel with a typo',
      { sentinels: [{ hots: 'x' }], name: 'm' },
      'option "redis.sentinels[0]" must be an object',
    ],
    ['an empty cluster', { cluster: [] }, 'option "redis.cluster" must be a non-empty array of nodes'],
    ['a cluster with a stray key', { cluster: [7000], opts: {} }, '(got the unknown key "opts")'],
    [
      'a cluster option typo',
      { cluster: [7000], options: { scaleRead: 'all' } },
      '(got the unknown key "scaleRead")',
    ],
    [
      'cluster redisOptions with a typo',
      { cluster: [7000], options: { redisOptions: { pasword: 'x' } } },
      '(got the unknown key "pasword")',
    ],
  ])('refuses %s', (_case, redis, message) => {
    expect(refusal(redis)).toContain(message);
  });

  it('never quotes a password', () => {
    const message = refusal({ password: 12345678 });
    expect(message).toContain('option "redis.password" must be a string');
    expect(message).not.toContain('12345678');
  });

  it.each<[string, unknown]>([
    ['a URL', 'redis://127.0.0.1:6379/2'],
    ['TLS by URL', 'rediss://cache.example:6380'],
    [
      'host, port, db, credentials and TLS',
      { host: 'cache', port: 6380, db: 2, username: 'app', password: 'secret', tls: {} },
    ],
    [
      'Sentinel',
      {
        sentinels: [{ host: '10.0.0.1', port: 26379 }],
        name: 'images',
        role: 'master',
        failoverDetector: true,
      },
    ],
    [
      'a cluster',
      {
        cluster: [7000, '10.0.0.2:7001', { host: '10.0.0.3', port: 7002 }],
        options: { scaleReads: 'master', redisOptions: { password: 'x' } },
      },
    ],
  ])('accepts %s', (_case, redis) => {
    expect(resolveImageResizeOptions({ redis } as never).redis).toEqual(redis);
  });
});
