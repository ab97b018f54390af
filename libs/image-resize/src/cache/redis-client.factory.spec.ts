import type { Redis } from 'ioredis';
import { createRedisClient } from './redis-client.factory';

describe('createRedisClient', () => {
  const made: Redis[] = [];
  afterEach(() => made.splice(0).forEach((client) => client.disconnect()));
  const create = (redis: Parameters<typeof createRedisClient>[0]) => {
    const client = createRedisClient(redis) as Redis;
    made.push(client);
    return client;
  };
  // Nothing listens on port 1 of the loopback: the clients are only inspected, never used.
  const sentinels = [{ host: '127.0.0.1', port: 1 }];

  it('follows a Sentinel failover as soon as it is announced, unless told not to', () => {
    expect(create({ sentinels, name: 'images' }).options.failoverDetector).toBe(true);
    expect(create({ sentinels, name: 'images', failoverDetector: false }).options.failoverDetector).toBe(
      false,
    );
  });

  it('leaves a plain connection as ioredis makes it', () => {
    expect(create({ host: '127.0.0.1', port: 1 }).options.failoverDetector).toBe(false);
  });
});
