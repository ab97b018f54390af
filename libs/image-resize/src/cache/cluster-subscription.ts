import { EventEmitter } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { closeRedisClient } from './redis-client.factory';

/** Longest pause between two attempts to connect to a node (they start at 50 ms and double). */
const MAX_RETRY_MS = 2000;
/** How often the node subscribed to is asked whether it answers (PING, allowed while subscribed). */
export const HEARTBEAT_MS = 2000;
/** How long it may take to answer before it is left, as a node that hangs. */
export const HEARTBEAT_TIMEOUT_MS = 1000;
/** How long a node left for not answering is not picked again (unless it is the only one). */
const SHUN_MS = 30_000;

const nodeKeyOf = (redis: Redis) => `${redis.options.host}:${redis.options.port}`;

/**
 * The hot tier's subscription on a Redis Cluster: one connection of its own to one node of the cluster,
 * which never moves without the tier knowing.
 *
 * Every node of a cluster relays what is PUBLISHed anywhere in it to its own subscribers, so one node
 * is enough — as long as it is part of the cluster. ioredis's own subscriber (a Cluster's `subscribe`)
 * moves to another node when its node goes away and subscribes again there without a word: what was
 * published in between is lost, and a hot tier would keep copies that an announcement lost that way
 * should have dropped. Here the move is seen, as a `'close'`, which empties the tier:
 *
 * - the connection closes (the node crashed or restarted, the connection was killed);
 * - the node does not answer a PING within {@link HEARTBEAT_TIMEOUT_MS} (one every {@link HEARTBEAT_MS}):
 *   a node that hangs leaves its connections open, and relays nothing; the others fail it over;
 * - its node leaves the cluster as the cluster client sees it: it is no longer in the client's slot map
 *   (read again on a MOVED reply, and every `slotsRefreshInterval` if that option is set), or the
 *   client's connection to it ended.
 *
 * It then connects to another node of the map (not one just left for not answering), and emits
 * `'ready'` there. A node that failed over but stays up (a manual `CLUSTER FAILOVER`: a master
 * becomes a replica) still relays, and is kept.
 *
 * Plain pub/sub, not sharded (`SSUBSCRIBE`): announcements are few (replacements, purges, releases
 * someone waits for), so relaying each one to every node costs little; sharded channels would need a
 * connection per master and instance, and ioredis 5's sharded subscribers (`shardedSubscribers`)
 * resubscribe after a topology change without saying whether it worked, and take the `SUNSUBSCRIBE`
 * that Redis pushes when a slot moves for a reply out of turn: the loss would still have to be seen here.
 *
 * Events: `'ready'` (connected: subscribe now), `'close'` (what was published may have been missed from
 * now until the next `'ready'`), `'message'` (channel, message).
 */
export class ClusterSubscription extends EventEmitter {
  private connection?: Redis;
  /** `host:port` of the node of {@link connection}. */
  private nodeKey?: string;
  private attempts = 0;
  private timer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  /** Nodes left for not answering, and until when they are not picked again. */
  private readonly shunned = new Map<string, number>();
  private stopped = false;

  constructor(private readonly cluster: Cluster) {
    super();
  }

  /** The status of the connection now (`'ready'`: subscribe on it). */
  get status(): string {
    return this.connection?.status ?? 'wait';
  }

  /** `host:port` of the node subscribed to, while connected. */
  get node(): string | undefined {
    return this.connection?.status === 'ready' ? this.nodeKey : undefined;
  }

  start(): void {
    this.cluster.on('-node', this.nodeLeft);
    this.cluster.on('refresh', this.slotsRefreshed);
    this.connect();
  }

  /** SUBSCRIBE on the connection now. */
  subscribe(...channels: string[]): Promise<unknown> {
    if (!this.connection) return Promise.reject(new Error('Not connected to a node of the cluster'));
    return this.connection.subscribe(...channels);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    this.cluster.off('-node', this.nodeLeft);
    this.cluster.off('refresh', this.slotsRefreshed);
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await closeRedisClient(connection);
  }

  /** Connects to a node of the cluster client's map, or tries again later when it has none. */
  private connect(): void {
    this.timer = undefined;
    if (this.stopped || this.connection) return;
    // Any node of the map, so that the instances' subscriptions spread over the cluster.
    const now = Date.now();
    for (const [key, until] of this.shunned) if (until <= now) this.shunned.delete(key);
    const nodes = this.cluster.nodes('all');
    const answering = nodes.filter((node) => !this.shunned.has(nodeKeyOf(node)));
    const candidates = answering.length > 0 ? answering : nodes;
    const node = candidates[Math.floor(Math.random() * candidates.length)];
    if (!node) return this.retry();
    // The node's options are the cluster's `redisOptions` (credentials, TLS, timeouts) with its address.
    const connection = node.duplicate({
      lazyConnect: false,
      readOnly: false,
      // A connection that closes is not reopened to the same node: another one is picked.
      retryStrategy: () => null,
      reconnectOnError: null,
      autoResubscribe: false,
    });
    this.connection = connection;
    this.nodeKey = nodeKeyOf(node);
    connection.on('error', () => undefined);
    const current = () => this.connection === connection;
    connection.on('ready', () => {
      if (!current()) return;
      this.attempts = 0;
      this.beat(connection);
      this.emit('ready');
    });
    connection.on('close', () => {
      if (!current()) return;
      clearInterval(this.heartbeat);
      this.emit('close');
    });
    connection.on('end', () => {
      if (!current()) return;
      this.connection = undefined;
      this.retry();
    });
    connection.on('message', (channel: string, message: string) => {
      if (current()) this.emit('message', channel, message);
    });
  }

  /** PINGs the node of `connection` every {@link HEARTBEAT_MS}; one that does not answer in time is left. */
  private beat(connection: Redis): void {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      const hangs = () => {
        clearTimeout(timer);
        if (this.connection !== connection) return;
        this.shunned.set(this.nodeKey!, Date.now() + SHUN_MS);
        this.leave();
      };
      const timer = setTimeout(hangs, HEARTBEAT_TIMEOUT_MS);
      timer.unref();
      connection.ping().then(() => clearTimeout(timer), hangs);
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private retry(): void {
    if (this.stopped || this.timer) return;
    const delay = Math.min(MAX_RETRY_MS, 50 * 2 ** this.attempts);
    this.attempts += 1;
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }

  /**
   * Leaves the node subscribed to at once, and picks another one. Its connection may not even close (a
   * node that hangs does not answer the close): it is dropped, and nothing it brings is heard.
   */
  private leave(): void {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    clearInterval(this.heartbeat);
    connection.disconnect();
    this.emit('close');
    this.retry();
  }

  /** The cluster client dropped a node from its pool: if it is this one's, it is left too. */
  private readonly nodeLeft = (redis: Redis) => {
    if (this.connection && nodeKeyOf(redis) === this.nodeKey) this.leave();
  };

  /** The cluster client read the slot map again: a node no longer in it is left. */
  private readonly slotsRefreshed = () => {
    if (!this.connection) {
      if (!this.timer) this.connect();
      return;
    }
    if (!this.cluster.nodes('all').some((node) => nodeKeyOf(node) === this.nodeKey)) this.leave();
  };
}

/** Whether `client` is a Redis Cluster client. */
export function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as Cluster).isCluster === true;
}
