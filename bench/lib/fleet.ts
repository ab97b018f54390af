/**
 * The fleet section: {@link INSTANCES} instances of the library (bench/servers/fleet-instance.ts), each
 * a process of its own, share one Redis, then a 3-master Redis Cluster, and serve {@link LOGOS}
 * distinct logos from an origin (bench/servers/fleet-origin.ts) to a fixed number of requests whose
 * logos follow a Zipf distribution. Measured: requests/s and latency, hit ratio, origin fetches per
 * logo, resizes per variant, Redis commands (INFO commandstats of every node) and pub/sub traffic.
 *
 * Settings (environment): `BENCH_FLEET_REQUESTS` (20000), `BENCH_FLEET_CONCURRENCY` (32),
 * `BENCH_FLEET_ZIPF` (the exponent s, 1.0), `BENCH_FLEET_LIB` (the library the instances load: a
 * built `libs/image-resize` of another checkout, to measure an older version; default this one's).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, redisServerArgs, waitForPing } from '../../test/support/redis-server';
import { CLIENT_CORE, SERVER_CORE, start, type Started, waitForHttp } from './processes';

export const INSTANCES = 8;
export const LOGOS = 1000;
const REQUESTS = Number(process.env.BENCH_FLEET_REQUESTS ?? 20000);
const CONCURRENCY = Number(process.env.BENCH_FLEET_CONCURRENCY ?? 32);
const ZIPF_S = Number(process.env.BENCH_FLEET_ZIPF ?? 1.0);
const SEED = 16;
/** The instance count the section projects to. */
export const PROJECTED = 100;

/** What the instances counted (ImageResizeMetrics events; pub/sub messages their connections received). */
export interface InstanceCounts {
  resized: number;
  fetched: number;
  waited: number;
  hits: number;
  misses: number;
  failed: number;
  delivered: number;
}

/** One run of the fleet, on one Redis or on a Cluster. */
export interface FleetRun {
  topology: string;
  redisNodes: number;
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** p99 of the answers with `X-Cache: HIT` alone. */
  hitP99Ms: number;
  /** Answers other than 200, and requests that failed. */
  failed: number;
  /** Those, by status (or error code, when there was no answer). */
  failures: Record<string, number>;
  /** Answers with `X-Cache: HIT`. */
  hits: number;
  hitRatio: number;
  /** Logos requested at least once (= variants: one size and format per logo). */
  distinctLogos: number;
  /** Requests the origin received for those logos, in all, and for the logo fetched most. */
  originFetches: number;
  originMaxPerLogo: number;
  /** The logos the origin was asked for more than once: when (ms since the origin started). */
  refetched: Record<string, number[]>;
  /** `resized` events over the instances. */
  resizes: number;
  /** `waited` events over the instances: requests that waited for a miss being made elsewhere. */
  waited: number;
  /** Commands processed, summed over the nodes (INFO commandstats, reset before the run). */
  redisCommands: number;
  /** Calls per command over the run, summed over the nodes (lower-case names). */
  commandCalls: Record<string, number>;
  /** PUBLISH and SPUBLISH calls. */
  publishes: number;
  /** Pub/sub messages the instances' Redis connections received (counted in the instances). */
  deliveries: number;
  /** SUBSCRIBE, SSUBSCRIBE, PSUBSCRIBE calls (and their UN- counterparts) during the run. */
  subscribeCalls: number;
  /** At the end: the instances' connections to Redis, summed over the nodes. */
  connections: number;
  /** At the end: connections in pub/sub mode, and their subscriptions (channels and patterns). */
  pubsubConnections: number;
  subscriptions: number;
  /**
   * Hot-tier fills of the request sequence: (instance, logo) pairs, the first time an instance serves
   * a logo, which it reads from Redis (or makes); at the fleet's size and at {@link PROJECTED}.
   */
  fills: number;
  fillsProjected: number;
}

export interface FleetSection {
  instances: number;
  logos: number;
  requests: number;
  concurrency: number;
  zipf: number;
  /** Which build of the library the instances ran. */
  library: string;
  runs: FleetRun[];
  seconds: number;
}

interface Options {
  /** The compiled file of a bench server (`servers/<name>.js`). */
  built: (path: string) => string;
  /** Notes the command line of a started process in the record. */
  record: (command: string) => void;
  log: (line: string) => void;
  /** The repository, so that the record names no folder of this machine. */
  root: string;
}

export async function fleetSection({ built, record, log, root }: Options): Promise<FleetSection> {
  const began = Date.now();
  const lib = process.env.BENCH_FLEET_LIB ? resolve(process.env.BENCH_FLEET_LIB) : undefined;
  const library = lib ? (lib.startsWith(root) ? `.${lib.slice(root.length)}` : lib) : 'this checkout';
  const sequence = zipfSequence(REQUESTS, LOGOS, ZIPF_S, SEED);
  const runs: FleetRun[] = [];
  const cleanup: Array<() => Promise<unknown>> = [];
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const originPort = await freePort();
    const origin = launch('fleet origin', CLIENT_CORE, process.execPath, [built('servers/fleet-origin.js')], {
      PORT: String(originPort),
    });
    cleanup.push(() => origin.stop());
    const originUrl = `http://127.0.0.1:${originPort}`;
    await waitForHttp(`${originUrl}/counts`, origin);
    record(origin.command);
    for (const topology of ['one Redis', '3-master Cluster'] as const) {
      const tag = topology === 'one Redis' ? 'single' : 'cluster';
      const startedAt = Date.now();
      log(`  ${topology}: ${INSTANCES} instances, ${REQUESTS} requests, ${CONCURRENCY} at a time`);
      const redis = await startRedis(tag === 'cluster' ? 3 : 1, record);
      const stopRedis = () => redis.stop();
      cleanup.push(stopRedis);
      const connection: Record<string, string> =
        redis.nodes.length === 1
          ? { REDIS_URL: `redis://127.0.0.1:${redis.nodes[0]}` }
          : { REDIS_CLUSTER: redis.nodes.map((port) => `127.0.0.1:${port}`).join(',') };
      const instances = await startInstances(built, {
        ORIGIN: `${originUrl}/${tag}`,
        KEY_PREFIX: 'fleet_',
        ...connection,
        ...(lib ? { FLEET_LIB: lib } : {}),
      });
      const stopInstances = () => Promise.all(instances.map((i) => i.server.stop()));
      cleanup.push(stopInstances);
      record(`${instances[0].server.command}  # × ${INSTANCES}, each on its own port`);
      log(`    Redis and ${INSTANCES} instances up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
      runs.push(await measure(topology, sequence, instances, redis, originUrl, tag, log));
      await stopInstances();
      await stopRedis();
    }
  } finally {
    for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
  }
  return {
    instances: INSTANCES,
    logos: LOGOS,
    requests: REQUESTS,
    concurrency: CONCURRENCY,
    zipf: ZIPF_S,
    library,
    runs,
    seconds: (Date.now() - began) / 1000,
  };
}

/** The processes this section started and has not stopped yet, and its folders, for {@link interrupted}. */
const live = new Set<Started>();
const folders = new Set<string>();

/** {@link start}, noting the process until it has exited. */
function launch(...args: Parameters<typeof start>): Started {
  const server = start(...args);
  live.add(server);
  server.child.once('exit', () => live.delete(server));
  return server;
}

/**
 * The benchmark was interrupted (Ctrl-C, `kill`) during the section: its processes are told to stop
 * (SIGTERM: an instance then stops its image workers), its folders removed, and the benchmark exits.
 */
function interrupted(signal: NodeJS.Signals): void {
  for (const server of live) server.child.kill('SIGTERM');
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

interface Instance {
  server: Started;
  url: string;
}

async function startInstances(
  built: (path: string) => string,
  env: Record<string, string>,
): Promise<Instance[]> {
  const instances: Instance[] = [];
  try {
    for (let i = 0; i < INSTANCES; i++) {
      const port = await freePort();
      const server = launch(
        `fleet instance ${i + 1}`,
        SERVER_CORE,
        process.execPath,
        [built('servers/fleet-instance.js')],
        {
          ...env,
          PORT: String(port),
        },
      );
      instances.push({ server, url: `http://127.0.0.1:${port}` });
    }
    await Promise.all(instances.map((i) => waitForHttp(`${i.url}/counts`, i.server, 60000)));
  } catch (error) {
    await Promise.all(instances.map((i) => i.server.stop()));
    throw error;
  }
  return instances;
}

interface FleetRedis {
  /** Ports of the nodes (masters), on 127.0.0.1. */
  nodes: number[];
  /** One plain connection per node, for INFO, CLIENT LIST and CONFIG RESETSTAT. */
  clients: Redis[];
  stop(): Promise<void>;
}

/** One `redis-server`, or a Cluster of `masters` masters without replicas (as test/support/redis-cluster.ts builds it), on the client core. */
async function startRedis(masters: number, record: (command: string) => void): Promise<FleetRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-redis-'));
  folders.add(dir);
  const servers: Started[] = [];
  const clients: Redis[] = [];
  const nodes: number[] = [];
  const stop = async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    folders.delete(dir);
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const nodeDir = mkdtempSync(join(dir, `node-${port}-`));
      const extra =
        masters > 1 ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf')] : [];
      const server = launch(
        `redis-server ${port}`,
        CLIENT_CORE,
        'redis-server',
        redisServerArgs(port, nodeDir, extra),
      );
      servers.push(server);
      nodes.push(port);
      await waitForPing(`redis://127.0.0.1:${port}`, server.child);
      if (i === 0)
        record(
          `${server.command.split(dir).join('$FLEET_REDIS_DIR')}${masters > 1 ? `  # × ${masters}` : ''}`,
        );
    }
    if (masters > 1) {
      const exec = promisify(execFile);
      await exec('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      const deadline = Date.now() + 15000;
      for (;;) {
        const { stdout } = await exec('redis-cli', ['-p', String(nodes[0]), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok: ${stdout}`);
        await sleep(100);
      }
    }
    for (const port of nodes) {
      const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      clients.push(client);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, clients, stop };
}

async function measure(
  topology: string,
  sequence: number[],
  instances: Instance[],
  redis: FleetRedis,
  originUrl: string,
  tag: string,
  log: (line: string) => void,
): Promise<FleetRun> {
  // Until every instance has subscribed (the hot tier is off until then), for at most 10 s.
  const deadline = Date.now() + 10000;
  while ((await clientStats(redis)).pubsubConnections < instances.length && Date.now() < deadline)
    await sleep(100);
  // One unmeasured request per instance (a logo outside the measured ones), to load its image worker.
  await Promise.all(instances.map((instance, i) => request(`${instance.url}/logo/${100001 + i}`)));
  // Their announcements reach every instance before the counts are taken.
  await sleep(500);
  const counts = () =>
    Promise.all(
      instances.map(async (i) => (await (await fetch(`${i.url}/counts`)).json()) as InstanceCounts),
    );
  const before = await counts();
  await Promise.all(redis.clients.map((client) => client.config('RESETSTAT')));

  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const latencies = new Float64Array(sequence.length);
  const hitLatencies: number[] = [];
  let next = 0;
  let hits = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < sequence.length) {
      const i = next++;
      const began = process.hrtime.bigint();
      const answer = await request(`${instances[i % instances.length].url}/logo/${sequence[i]}`, agent);
      latencies[i] = Number(process.hrtime.bigint() - began) / 1e6;
      if (answer.status !== 200) {
        failed += 1;
        failures[answer.status] = (failures[answer.status] ?? 0) + 1;
      } else if (answer.cache === 'HIT') {
        hits += 1;
        hitLatencies.push(latencies[i]);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  // What the last answers set going (announcements) reaches Redis and the subscribers.
  await sleep(300);

  const after = await counts();
  const delta = (pick: (c: InstanceCounts) => number) =>
    after.reduce((sum, c, i) => sum + pick(c) - pick(before[i]), 0);
  const commandCalls: Record<string, number> = {};
  let redisCommands = 0;
  for (const client of redis.clients) {
    const info = await client.info('commandstats');
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      // This measurement's own CONFIG RESETSTAT is counted once it has run (this INFO only after it).
      const calls = Number(match[2]) - (/^config(\|resetstat)?$/.test(match[1]) ? 1 : 0);
      if (calls > 0) commandCalls[match[1]] = (commandCalls[match[1]] ?? 0) + calls;
      redisCommands += calls;
    }
  }
  const { connections, pubsubConnections, subscriptions } = await clientStats(redis);
  const calls = (...names: string[]) => names.reduce((sum, name) => sum + (commandCalls[name] ?? 0), 0);
  const originCounts = (await (await fetch(`${originUrl}/counts`)).json()) as Record<string, number>;
  const requested = new Set(sequence);
  const fetchedPerLogo = [...requested].map((id) => originCounts[`${tag}/${id}`] ?? 0);
  const repeats = (await (await fetch(`${originUrl}/repeats`)).json()) as Record<string, number[]>;
  const refetched = Object.fromEntries(
    Object.entries(repeats)
      .filter(([name]) => name.startsWith(`${tag}/`) && requested.has(Number(name.slice(tag.length + 1))))
      .map(([name, at]) => [name.slice(tag.length + 1), at]),
  );
  const rank = (values: ArrayLike<number>, p: number) => {
    const sorted = Array.from(values).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? NaN;
  };
  const run: FleetRun = {
    topology,
    redisNodes: redis.nodes.length,
    requests: sequence.length,
    seconds,
    rps: sequence.length / seconds,
    p50Ms: rank(latencies, 0.5),
    p99Ms: rank(latencies, 0.99),
    hitP99Ms: rank(hitLatencies, 0.99),
    failed,
    failures,
    hits,
    hitRatio: hits / sequence.length,
    distinctLogos: requested.size,
    originFetches: fetchedPerLogo.reduce((a, b) => a + b, 0),
    originMaxPerLogo: Math.max(...fetchedPerLogo),
    refetched,
    resizes: delta((c) => c.resized),
    waited: delta((c) => c.waited),
    redisCommands,
    commandCalls,
    publishes: calls('publish', 'spublish'),
    deliveries: delta((c) => c.delivered),
    subscribeCalls: calls(
      'subscribe',
      'ssubscribe',
      'psubscribe',
      'unsubscribe',
      'sunsubscribe',
      'punsubscribe',
    ),
    connections,
    pubsubConnections,
    subscriptions,
    fills: fills(sequence, instances.length),
    fillsProjected: fills(sequence, PROJECTED),
  };
  log(
    `    ${run.rps.toFixed(0)} req/s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms (hits ${run.hitP99Ms.toFixed(1)} ms), hit ratio ${(run.hitRatio * 100).toFixed(1)}%, ${failed} failed ${JSON.stringify(failures)}; ` +
      `${run.distinctLogos} logos: origin fetches ${run.originFetches} (max ${run.originMaxPerLogo} per logo${run.originMaxPerLogo > 1 ? `: ${JSON.stringify(refetched)}` : ''}), resizes ${run.resizes}, waited ${run.waited}; ` +
      `Redis ${(redisCommands / seconds).toFixed(0)} commands/s (${(redisCommands / run.requests).toFixed(2)} per request), ` +
      `PUBLISH ${run.publishes}, deliveries ${run.deliveries}, connections ${connections} (${pubsubConnections} pub/sub, ${subscriptions} subscriptions)`,
  );
  log(`    commands: ${breakdown(run)}`);
  return run;
}

/** Calls per request of each command, most first (those under 0.001 per request left out). */
export function breakdown(run: FleetRun): string {
  return Object.entries(run.commandCalls)
    .sort(([, a], [, b]) => b - a)
    .filter(([, calls]) => calls / run.requests >= 0.001)
    .map(([name, calls]) => `${name} ${(calls / run.requests).toFixed(3)}`)
    .join(', ');
}

/**
 * The connections to the nodes other than this measurement's own, those in pub/sub mode, and their
 * subscriptions (channels, patterns and shard channels), from CLIENT LIST of every node.
 */
async function clientStats(redis: FleetRedis) {
  let connections = 0;
  let pubsubConnections = 0;
  let subscriptions = 0;
  for (const client of redis.clients) {
    const list = (await client.client('LIST')) as string;
    for (const line of list.split('\n').filter(Boolean)) {
      // This measurement's own connection, which is running CLIENT LIST.
      if (/(?:^| )cmd=client\|list(?: |$)/.test(line)) continue;
      const field = (name: string) => new RegExp(`(?:^| )${name}=(\\S*)`).exec(line)?.[1] ?? '';
      connections += 1;
      const subs = Number(field('sub')) + Number(field('psub')) + Number(field('ssub') || 0);
      if (field('flags').includes('P') || subs > 0) pubsubConnections += 1;
      subscriptions += subs;
    }
  }
  return { connections, pubsubConnections, subscriptions };
}

/** Distinct (instance, logo) pairs when request `i` goes to instance `i % instances`. */
function fills(sequence: number[], instances: number): number {
  const seen = new Set<number>();
  sequence.forEach((id, i) => seen.add((i % instances) * 1_000_000 + id));
  return seen.size;
}

/** `count` logo numbers in 1..`logos`, rank r drawn with probability ∝ 1/r^s, from a fixed seed. */
export function zipfSequence(count: number, logos: number, s: number, seed: number): number[] {
  const cdf = new Float64Array(logos);
  let total = 0;
  for (let r = 1; r <= logos; r++) cdf[r - 1] = total += 1 / r ** s;
  let state = seed >>> 0;
  // mulberry32
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => {
    const u = random() * total;
    let low = 0;
    let high = logos - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (cdf[mid] < u) low = mid + 1;
      else high = mid;
    }
    return low + 1;
  });
}

/** A GET; `status` is the error's code when there was no answer. */
function request(url: string, agent?: Agent): Promise<{ status: number | string; cache?: string }> {
  return new Promise((resolve) => {
    const failed = (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error' });
    get(url, { agent }, (response) => {
      response.resume();
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          cache: response.headers['x-cache'] as string | undefined,
        }),
      );
      response.once('error', failed);
    }).once('error', failed);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
