/**
 * `npm run bench`: measures the library against baselines and peers in one run, on loopback, and
 * writes bench/results/latest.{md,json,svg}. Every number is a median of `BENCH_ROUNDS` (3) rounds,
 * baseline and subject alternating within each round, after a warm-up.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { freePort, waitForPing } from '../test/support/redis-server';
import {
  jpegWithRepeatedScans,
  pngWithTextBomb,
  svgEmbeddingRaster,
  svgUseBomb,
} from '../test/support/bombs/containers';
import { deepAvif, deepPng, slowGradientPng } from '../test/support/bombs/processing';
import { writeFixtures } from './lib/fixtures';
import { missBreakdown, type MissContext, missCost, missThroughput } from './lib/miss';
import { fleetSection } from './lib/fleet';
import { renderFleet } from './lib/fleet-report';
import {
  CLIENT_CORE,
  onCore,
  pinnable,
  run,
  SERVER_CORE,
  shown,
  start,
  type Started,
  waitForHttp,
} from './lib/processes';
import {
  ATTACKERS,
  type AttackPhase,
  type Measured,
  type MemoryRun,
  netGrowth,
  type PlaceholderSection,
  renderChart,
  renderMarkdown,
  renderPlaceholders,
  type Results,
  TARGET,
} from './lib/report';
import { ensureWrk, median, medianRun, wrk, WRK, type WrkResult } from './lib/wrk';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MISSES = Number(process.env.BENCH_MISSES ?? 20);
const MIXED_REQUESTS = Number(process.env.BENCH_MIXED_REQUESTS ?? 10000);
const PLACEHOLDER_HITS = Number(process.env.BENCH_PLACEHOLDER_HITS ?? 2000);
const FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const;
/** The repository: this file runs from dist/bench/bench/. */
const root = join(__dirname, '..', '..', '..');
const built = (path: string) => join(__dirname, path);
const results = join(root, 'bench', 'results');

/** `BENCH_ONLY=a,e`: run only these sections (for a quick look; no result files are written). */
const ONLY = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
const log = (line: string) => console.log(line);
/** Every command the run started, for the record: servers, wrk, bare sharp. */
const commands: string[] = [];

/** Runs a section unless `BENCH_ONLY` leaves it out. */
async function section<T>(id: string, measure: () => Promise<T>): Promise<T | undefined> {
  if (ONLY.length && !ONLY.includes(id)) return undefined;
  return measure();
}
const stopAll: Array<() => Promise<unknown>> = [];

async function main(): Promise<void> {
  ensureWrk();
  pinSelf();
  const work = mkdtempSync(join(tmpdir(), 'nestjs-image-resize-bench-'));
  stopAll.push(async () => rmSync(work, { recursive: true, force: true }));
  await writeFixtures(work);
  const started = new Date();
  const record = <T extends Started>(server: T): T => {
    commands.push(server.command);
    log(`$ ${server.command}`);
    return server;
  };

  const redis = await startRedis();
  record(redis.server);
  const origin = await startOrigin(readFileSync(join(work, 'logo.png')));
  const subject = async (name: string, env: Record<string, string> = {}) =>
    record(
      await startNode(name, built('servers/nest-subject.js'), { FIXTURES: work, ORIGIN: origin.url, ...env }),
    );
  const memory = await subject('library, in-memory cache');
  const onFastify = await subject('library on Fastify, in-memory cache', { PLATFORM: 'fastify' });
  const onRedis = await subject('library, Redis', { REDIS_URL: redis.url });
  const onRedisCold = await subject('library, Redis without hot cache', {
    REDIS_URL: redis.url,
    HOT_CACHE: 'off',
  });

  // The bytes every hit sends, made by the library; the baselines send the very same.
  const made = await fetch(`${memory.url}/logo.png`);
  const body = Buffer.from(await made.arrayBuffer());
  const bodyFile = join(work, 'logo-256.png');
  writeFileSync(bodyFile, body);
  await redis.client.set('bench_baseline_logo', body);
  const express = record(
    await startNode('Express', built('servers/express-baseline.js'), {
      BODY: bodyFile,
      ETAG: made.headers.get('etag') ?? '',
      REDIS_URL: redis.url,
      REDIS_KEY: 'bench_baseline_logo',
    }),
  );

  log(`\n(b) cache hit, in-memory backend, ${body.length}-byte PNG`);
  const hitsMemory = await section('b', () =>
    compare({
      [TARGET.expressEnd]: `${express.url}/end`,
      [TARGET.expressSend]: `${express.url}/send`,
      [TARGET.nestCeiling]: `${memory.url}/ceiling/logo.png`,
      [TARGET.oursMemory]: `${memory.url}/logo.png`,
      [TARGET.nestFastifyCeiling]: `${onFastify.url}/ceiling/logo.png`,
      [TARGET.oursFastify]: `${onFastify.url}/logo.png`,
    }),
  );
  log('\n(a) cache hit, Redis backend');
  const hitsRedis = await section('a', () =>
    compare({
      [TARGET.expressRedis]: `${express.url}/redis`,
      [TARGET.oursRedis]: `${onRedis.url}/logo.png`,
      [TARGET.oursRedisOnly]: `${onRedisCold.url}/logo.png`,
    }),
  );

  log('\n(c) miss cost, 256 px from a 3.1 MP JPEG, one image at a time');
  const missContext: MissContext = {
    built,
    log,
    record: (command) => commands.push(command),
    onStop: (stop) => stopAll.push(stop),
    rounds: ROUNDS,
    misses: MISSES,
    formats: FORMATS,
  };
  const misses = await section('c', () => missCost(missContext, memory.url, join(work, 'photo.jpg')));
  log('\n(c) where the time of a miss goes: each layer of the library, without HTTP');
  const missLayers = await section('c', () => missBreakdown(missContext, join(work, 'photo.jpg')));
  log('\n(c) concurrent misses of distinct images, as many at a time as there are cores');
  const missConcurrent = await section('c', () => missThroughput(missContext, work));

  log('\n(d) 100 concurrent requests for one uncached image');
  const singleFlight = await section('d', async () => ({
    memory: await concurrentMiss(origin, [memory], 'memory'),
    redis: await concurrentMiss(origin, [onRedis, onRedisCold], 'redis'),
  }));

  for (const server of [memory, onFastify, onRedis, onRedisCold, express]) await server.stop();

  log('\n(e) peers: 256 px wide JPEG q75 of the photo, repeated requests');
  const peers = await section('e', () => comparePeers(work, subject));

  log(`\n(f) memory over ${MIXED_REQUESTS} requests of mixed hits and misses`);
  const memoryRuns = await section('f', async () => {
    const runs = [];
    const environments: Array<Record<string, string>> = [
      {},
      { MALLOC_ARENA_MAX: '2' },
      { UV_THREADPOOL_SIZE: '16' },
    ];
    for (const env of environments) {
      runs.push(
        await mixedLoad(await subject('library, mixed load', { ...env, NODE_OPTIONS: '--expose-gc' }), env),
      );
    }
    return runs;
  });
  log('\n(g) ordinary misses, alone and under attack');
  const attack = await section('g', () => underAttack(work, subject));
  log('\n(h) placeholders: a miss and a hit of placeholder(), from the photo and the example logos');
  const placeholders = await section('h', () => placeholderCost(work, redis.url));
  log('\n(i) a fleet: 8 instances, 1000 logos, Zipf-distributed requests, on one Redis and on a Cluster');
  const fleet = await section('i', () =>
    fleetSection({ built, root, log, record: (command) => (commands.push(command), log(`$ ${command}`)) }),
  );
  if (ONLY.length) {
    if (placeholders) log(`\n${renderPlaceholders(placeholders)}`);
    if (fleet) log(`\n${renderFleet(fleet)}`);
    log(`\nBENCH_ONLY=${ONLY.join(',')}: nothing written; results are written by a full run.`);
    return;
  }

  // The record names no folder of this machine.
  const portable = (command: string) =>
    command.split(work).join('$BENCH_DIR').split(root).join('.').split(process.execPath).join('node');
  const data: Results = {
    date: started.toISOString(),
    machine: machine(),
    settings: { rounds: ROUNDS, wrk: WRK, misses: MISSES, mixedRequests: MIXED_REQUESTS },
    bodyBytes: body.length,
    hitsMemory: hitsMemory!,
    hitsRedis: hitsRedis!,
    misses: misses!,
    missBreakdown: missLayers,
    missThroughput: missConcurrent,
    singleFlight: singleFlight!,
    peers: peers!,
    memory: memoryRuns!,
    attack: attack!,
    placeholders: placeholders!,
    fleet: fleet!,
    commands: commands.map(portable),
  };
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'latest.json'), `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(join(results, 'latest.md'), renderMarkdown(data));
  writeFileSync(join(results, 'latest.svg'), renderChart(data));
  log(`\n${renderMarkdown(data)}`);
  log(`Written: bench/results/latest.md, latest.json, latest.svg`);
}

/** The benchmark's own process (client side: fetch, the origin) runs on the client core. */
function pinSelf(): void {
  try {
    execFileSync('taskset', ['-pc', String(CLIENT_CORE), String(process.pid)], { stdio: 'ignore' });
  } catch {
    // not pinned: without taskset the numbers are noisier, not wrong
  }
}

interface NodeServer extends Started {
  url: string;
}

async function startNode(name: string, script: string, env: Record<string, string>): Promise<NodeServer> {
  const port = await freePort();
  const server = start(name, SERVER_CORE, process.execPath, [script], { PORT: String(port), ...env });
  stopAll.push(() => server.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, server);
  return { ...server, url };
}

async function startRedis(): Promise<{ url: string; client: Redis; server: Started }> {
  const port = await freePort();
  const server = start('redis-server', CLIENT_CORE, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  stopAll.push(() => server.stop());
  const url = `redis://127.0.0.1:${port}`;
  await waitForPing(url, server.child);
  const client = new Redis(url);
  stopAll.push(async () => client.disconnect());
  return { url, client, server };
}

/** The origin of URL sources: serves the logo after 200 ms, so that concurrent requests overlap. */
async function startOrigin(logo: Buffer): Promise<{ url: string; requests: Map<string, number> }> {
  const requests = new Map<string, number>();
  const server = createServer((req, res) => {
    const round = new URL(req.url ?? '/', 'http://origin').searchParams.get('round') ?? '';
    requests.set(round, (requests.get(round) ?? 0) + 1);
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'image/png' }).end(logo), 200);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stopAll.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/**
 * Warms each target up, then runs `ROUNDS` rounds of wrk over all targets in turn. `settleMs` is a
 * pause after each run, for servers that go on working off queued requests once wrk has stopped
 * (IPX resizes every request), so that they do not take time from the next target on their core.
 */
async function compare(targets: Record<string, string>, settleMs = 0): Promise<Record<string, Measured>> {
  const measure = async (url: string, seconds?: number) => {
    const result = await wrk(url, seconds);
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return result;
  };
  for (const [name, url] of Object.entries(targets)) {
    const check = await fetch(url);
    await check.arrayBuffer();
    if (check.status !== 200) throw new Error(`${name}: ${url} answered ${check.status}`);
    await measure(url, 2);
  }
  const runs: Record<string, WrkResult[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, url] of Object.entries(targets)) {
      const result = await measure(url);
      if (result.errors) throw new Error(`${name}: ${result.errors} errors in ${result.command}`);
      (runs[name] ??= []).push(result);
      if (round === 0) commands.push(result.command);
      log(`  round ${round + 1}  ${name.padEnd(38)} ${result.rps.toFixed(0).padStart(6)} req/s`);
    }
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, all]) => [name, { ...medianRun(all), rounds: all.map((r) => r.rps) }]),
  );
}

/** 100 requests at once for one new image, spread over `servers`; counts origin fetches and resizes. */
async function concurrentMiss(
  origin: { url: string; requests: Map<string, number> },
  servers: NodeServer[],
  round: string,
) {
  const stats = async () =>
    Promise.all(
      servers.map(async (s) => (await (await fetch(`${s.url}/stats`)).json()) as { resized: number }),
    );
  const before = await stats();
  const statuses = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const response = await fetch(`${servers[i % servers.length].url}/remote/${round}.png`);
      await response.arrayBuffer();
      return response.status;
    }),
  );
  const after = await stats();
  const resizes = after.reduce((sum, s, i) => sum + s.resized - before[i].resized, 0);
  const fetches = origin.requests.get(round) ?? 0;
  const ok = statuses.filter((status) => status === 200).length;
  log(
    `  ${round}: ${servers.length} instance(s), ${ok}/100 answered 200, origin fetches ${fetches}, resizes ${resizes}`,
  );
  return { instances: servers.length, ok, fetches, resizes };
}

async function comparePeers(
  work: string,
  subject: (name: string, env?: Record<string, string>) => Promise<NodeServer>,
) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- plain JavaScript, installed on demand
  const peers = require(join(root, 'bench', 'peers', 'peers.js'));
  await peers.ensurePeersInstalled();
  const ours = await subject('library, in-memory cache (peers)');
  const oursOnFastify = await subject('library on Fastify, in-memory cache (peers)', { PLATFORM: 'fastify' });
  const core = pinnable() ? SERVER_CORE : undefined;
  const ipx = await peers.startIpx({ port: await freePort(), dir: work, core });
  stopAll.push(() => ipx.stop());
  const next = await peers.startNext({ port: await freePort(), imagePath: join(work, 'photo.jpg'), core });
  stopAll.push(() => next.stop());
  commands.push(ipx.command, next.command);
  const targets = {
    [TARGET.oursMemory]: `${ours.url}/peer/photo.jpg`,
    [TARGET.oursFastify]: `${oursOnFastify.url}/peer/photo.jpg`,
    [TARGET.next]: next.url('photo.jpg', 256, 75),
    [TARGET.ipx]: ipx.url('photo.jpg', 256, 75),
  };
  const outputs: Record<string, { width?: number; height?: number; format?: string; bytes: number }> = {};
  for (const [name, url] of Object.entries(targets)) {
    const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
    const { width, height, format } = await sharp(bytes).metadata();
    outputs[name] = { width, height, format, bytes: bytes.length };
    log(`  ${name}: ${width}x${height} ${format}, ${bytes.length} bytes`);
  }
  const measured = await compare(targets, 3000);
  await Promise.all([ours.stop(), oursOnFastify.stop(), ipx.stop(), next.stop()]);
  return { measured, outputs };
}

/** `MIXED_REQUESTS` requests, 16 at a time: 1 in 20 a new image (a miss), the rest hits; RSS sampled every 100 ms. */
async function mixedLoad(server: NodeServer, env: Record<string, string>) {
  const samples: number[] = [];
  const marks: MemoryRun['marks'] = [];
  const timer = setInterval(() => samples.push(server.rss()), 100);
  const began = Date.now();
  let issued = 0;
  let done = 0;
  let failed = 0;
  const worker = async () => {
    while (issued < MIXED_REQUESTS) {
      const i = issued++;
      // Misses cycle through the four formats; hits alternate between the logo and 40 photo variants.
      const hot = (i >> 1) % 40;
      const path =
        i % 20 === 0
          ? `/photo/mixed-${i}.${FORMATS[(i / 20) % FORMATS.length]}`
          : i % 2
            ? '/logo.png'
            : `/photo/hot-${hot}.${FORMATS[hot % FORMATS.length]}`;
      const response = await fetch(`${server.url}${path}`);
      await response.arrayBuffer();
      if (response.status !== 200) failed += 1;
      done += 1;
      if (done % 1000 === 0) {
        const requests = done;
        const rss = server.rss();
        const stats = (await (await fetch(`${server.url}/stats`)).json()) as Omit<
          MemoryRun['marks'][number],
          'requests' | 'rss'
        >;
        marks.push({ requests, rss, ...stats });
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  clearInterval(timer);
  const seconds = (Date.now() - began) / 1000;
  await server.stop();
  const at = (n: number) => marks.find((mark) => mark.requests === n) ?? { rss: NaN, cacheBytes: NaN };
  const result = {
    env:
      Object.entries(env)
        .map(([name, value]) => `${name}=${value}`)
        .join(' ') || '(defaults)',
    seconds,
    failed,
    peakRss: Math.max(...samples),
    rssAtHalf: at(MIXED_REQUESTS / 2).rss,
    rssAtEnd: at(MIXED_REQUESTS).rss,
    cacheAtEnd: at(MIXED_REQUESTS).cacheBytes,
    marks,
  };
  const series = (pick: (mark: MemoryRun['marks'][number]) => number) =>
    marks.map((mark) => mb(pick(mark))).join(' ');
  log(`    every 1000 requests, MB: RSS ${series((m) => m.rss)}`);
  log(`      RSS - cache ${series((m) => m.rss - m.cacheBytes)}; heap ${series((m) => m.heapUsed)}`);
  log(`      external ${series((m) => m.external)}`);
  log(
    `  ${result.env.padEnd(22)} peak ${mb(result.peakRss)} MB, at ${MIXED_REQUESTS / 2} ${mb(result.rssAtHalf)} MB, at ${MIXED_REQUESTS} ${mb(result.rssAtEnd)} MB (cache ${mb(result.cacheAtEnd)} MB), growth without the cache ${(netGrowth(result) * 100).toFixed(1)}%, ${seconds.toFixed(1)} s, ${failed} failed`,
  );
  return result;
}

const mb = (bytes: number) => (bytes / 1048576).toFixed(0);

/** The hostile originals of (g), as files named by their class, built in memory in a few seconds. */
async function writeBombs(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const bombs: Record<string, Buffer> = {
    'jpeg-scans.jpg': await jpegWithRepeatedScans({ size: 6000, repeats: 1000 }),
    'png-ztxt.png': await pngWithTextBomb(),
    'png-16bit.png': await deepPng(),
    'avif-10bit.avif': await deepAvif(),
    'svg-raster.svg': await svgEmbeddingRaster(100),
    'svg-use.svg': svgUseBomb(),
    'slow.png': await slowGradientPng(2000),
  };
  for (const [name, body] of Object.entries(bombs)) writeFileSync(join(dir, name), body);
  return Object.keys(bombs);
}

/**
 * (g): ordinary misses one after another, first alone, then while {@link ATTACKERS} clients send the
 * hostile originals in turn without pause; latency of the ordinary misses and peak RSS of the server
 * with its image workers.
 */
async function underAttack(
  work: string,
  subject: (name: string, env?: Record<string, string>) => Promise<NodeServer>,
) {
  const dir = join(work, 'bombs');
  const names = await writeBombs(dir);
  const server = await subject('library under attack', { BOMBS: dir });
  const phase = async (label: string, attackers: number): Promise<AttackPhase> => {
    let peakRss = server.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, server.rss())), 50);
    const hostile: Record<string, number> = {};
    let attacking = attackers > 0;
    let sent = 0;
    const attacker = async () => {
      while (attacking) {
        const name = names[sent % names.length];
        const path =
          name === 'slow.png' ? `/attack-slow/${label}-${sent}` : `/attack/${name}/${label}-${sent}`;
        sent += 1;
        const response = await fetch(`${server.url}${path}`);
        await response.arrayBuffer();
        hostile[response.status] = (hostile[response.status] ?? 0) + 1;
      }
    };
    const running = Array.from({ length: attackers }, attacker);
    const ms: number[] = [];
    let failed = 0;
    for (let i = 0; i < MISSES * 2; i++) {
      const began = process.hrtime.bigint();
      const response = await fetch(`${server.url}/photo/${label}-${i}.jpeg`);
      await response.arrayBuffer();
      if (response.status !== 200) failed += 1;
      ms.push(Number(process.hrtime.bigint() - began) / 1e6);
    }
    attacking = false;
    await Promise.all(running);
    clearInterval(sampler);
    const sorted = [...ms].sort((a, b) => a - b);
    const result = {
      misses: ms.length,
      p50Ms: median(ms),
      p99Ms: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)],
      failed,
      peakRss: Math.max(peakRss, server.rss()),
      hostile,
    };
    log(
      `  ${label.padEnd(8)} p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ${failed} failed, peak RSS ${mb(result.peakRss)} MB, hostile ${JSON.stringify(hostile)}`,
    );
    return result;
  };
  await fetch(`${server.url}/photo/warm.jpeg`).then((r) => r.arrayBuffer());
  const calm = await phase('calm', 0);
  const attacked = await phase('attacked', ATTACKERS);
  await server.stop();
  return { calm, underAttack: attacked, classes: names.map((name) => name.replace(/\.\w+$/, '')) };
}

/**
 * (h): `placeholder()` in a process of its own on the server core (bench/servers/placeholder-subject.ts):
 * `MISSES` misses per original against bare sharp, `PLACEHOLDER_HITS` hits per backend.
 */
async function placeholderCost(work: string, redisUrl: string): Promise<PlaceholderSection> {
  const args = [
    built('servers/placeholder-subject.js'),
    work,
    String(MISSES),
    String(PLACEHOLDER_HITS),
    redisUrl,
  ];
  commands.push(shown(...onCore(SERVER_CORE, process.execPath, args)));
  const output = (await run(SERVER_CORE, process.execPath, args)).trim();
  const last = output.slice(output.lastIndexOf('\n') + 1);
  if (!last.startsWith('{')) throw new Error(`placeholder-subject printed no result:\n${output}`);
  const measured = JSON.parse(last) as PlaceholderSection;
  for (const row of measured.rows) {
    log(
      `  ${row.original.padEnd(11)} miss ${row.libraryMs.p50.toFixed(1)} ms (p95 ${row.libraryMs.p95.toFixed(1)}), same work in-process ${row.workMs.p50.toFixed(1)} ms, bare sharp ${row.sharpMs.p50.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}, ${row.bytes} bytes`,
    );
  }
  for (const hit of measured.hitRows) {
    const baseline = hit.baseline ? `, ${hit.baseline.name} ${hit.baseline.us.p50.toFixed(0)} µs` : '';
    log(
      `  hit, ${hit.backend.padEnd(17)} ${hit.us.p50.toFixed(0)} µs (p95 ${hit.us.p95.toFixed(0)})${baseline}`,
    );
  }
  return measured;
}

function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
  };
}

main()
  .catch((error: Error) => {
    console.error(`bench failed: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const stop of stopAll.reverse()) await stop().catch(() => undefined);
  });
