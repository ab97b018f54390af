import type { FleetSection } from './fleet';
import { renderFleet } from './fleet-report';
import type { WrkResult } from './wrk';

/** A target measured by wrk: its median round, and the throughput of every round. */
export interface Measured extends WrkResult {
  rounds: number[];
}

export interface MissRow {
  format: string;
  libraryMs: number;
  sharpMs: number;
  ratio: number;
  sameBytes: boolean;
}

/** (c) One format's miss, layer by layer, without HTTP (bench/servers/miss-subject.ts); medians, ms. */
export interface MissBreakdownRow {
  format: string;
  /** Bare sharp: the pipeline alone. */
  sharpMs: number;
  /** What the processor does, its child process aside: container checks, header, `makeImage`. */
  workMs: number;
  /** `SharpImageProcessor.process`: the same with the input to /dev/shm, a child, and back. */
  processorMs: number;
  /** `ImageResizeService.resize` of a new cacheKey: lookup, the processor, ETag, store. */
  serviceMs: number;
}

export interface MissBreakdown {
  /** Misses per format and layer. */
  misses: number;
  seconds: number;
  rows: MissBreakdownRow[];
}

/** (c) Concurrent misses of distinct images, one format: images per second, medians of the rounds. */
export interface MissThroughputRow {
  format: string;
  libraryPerSecond: number;
  sharpPerSecond: number;
  /** libraryPerSecond / sharpPerSecond */
  ratio: number;
  /**
   * CPU time per image, medians of the rounds: the server and its image workers (not the client);
   * bare sharp's process. Less sensitive than images/s to what else runs on the machine.
   */
  libraryCpuMs: number;
  sharpCpuMs: number;
  rounds: { library: number[]; sharp: number[] };
}

export interface MissThroughput {
  /** Distinct originals per round. */
  images: number;
  /** Requests (library) and images (sharp) at a time: the machine's cores. */
  concurrency: number;
  rows: MissThroughputRow[];
}

export interface SingleFlight {
  instances: number;
  ok: number;
  fetches: number;
  resizes: number;
}

export interface MemoryRun {
  env: string;
  seconds: number;
  failed: number;
  peakRss: number;
  rssAtHalf: number;
  rssAtEnd: number;
  /** Bytes of images the in-memory cache held at the end. */
  cacheAtEnd: number;
  /** Every 1000 requests: RSS, the cache's bytes, and the V8 heap and external memory (Buffers). */
  marks: Array<{
    requests: number;
    rss: number;
    cacheBytes: number;
    heapUsed: number;
    external: number;
  }>;
}

/** Ordinary misses, one after another, in one phase of the attack section. */
export interface AttackPhase {
  misses: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  /** Peak RSS of the server and its image workers. */
  peakRss: number;
  /** Hostile requests answered in the phase, by status. */
  hostile: Record<string, number>;
}

/** Median and 95th percentile (nearest rank) of a series. */
export interface Spread {
  p50: number;
  p95: number;
}

/** (h) Placeholders of one original: made on a miss, against bare sharp. */
export interface PlaceholderRow {
  original: string;
  width: number;
  height: number;
  format: string;
  inputBytes: number;
  /** `placeholder()` on a miss: cache lookup, the work in an image worker and back, the store. */
  libraryMs: Spread;
  /** The library's placeholder work (`placeholderOf`) in the calling process: no pool, no cache. */
  workMs: Spread;
  /** Bare `sharp(input).resize(16).webp()` in the calling process. */
  sharpMs: Spread;
  /** libraryMs.p50 / sharpMs.p50 */
  ratio: number;
  /** Length of the data URL. */
  bytes: number;
  /** Length of bare sharp's output as a data URL. */
  sharpBytes: number;
  color: string;
}

/** (h) `placeholder()` of a cached placeholder, per call, in µs; with Redis, against ioredis alone. */
export interface PlaceholderHit {
  backend: string;
  us: Spread;
  baseline?: { name: string; us: Spread };
}

export interface PlaceholderSection {
  /** Misses per original, and hits per backend. */
  misses: number;
  hits: number;
  /** The library's image workers (`concurrency`). */
  workers: number;
  seconds: number;
  rows: PlaceholderRow[];
  hitRows: PlaceholderHit[];
}

/** Everything one `npm run bench` measured; written as bench/results/latest.json. */
export interface Results {
  date: string;
  machine: Record<string, unknown>;
  settings: {
    rounds: number;
    wrk: { duration: number; connections: number };
    misses: number;
    mixedRequests: number;
  };
  bodyBytes: number;
  hitsMemory: Record<string, Measured>;
  hitsRedis: Record<string, Measured>;
  misses: MissRow[];
  /** (c) where a miss's time goes; absent from results written before it was measured. */
  missBreakdown?: MissBreakdown;
  /** (c) concurrent misses of distinct images; absent from results written before it was measured. */
  missThroughput?: MissThroughput;
  singleFlight: { memory: SingleFlight; redis: SingleFlight };
  peers: {
    measured: Record<string, Measured>;
    outputs: Record<string, { width?: number; height?: number; format?: string; bytes: number }>;
  };
  memory: MemoryRun[];
  attack: { calm: AttackPhase; underAttack: AttackPhase; classes: string[] };
  placeholders: PlaceholderSection;
  /** (i) the fleet; absent from results written before it was measured. */
  fleet?: FleetSection;
  commands: string[];
}

/** Clients that send hostile originals during the attack section. */
export const ATTACKERS = 3;

/** The names under which bench/run.ts records its targets. */
export const TARGET = {
  expressEnd: 'Express res.end() (ceiling)',
  expressSend: 'Express res.send()',
  nestCeiling: 'Nest @Res() route (ceiling)',
  oursMemory: '@ResizedImage(), in-memory',
  nestFastifyCeiling: 'Nest @Res() route on Fastify (ceiling)',
  oursFastify: '@ResizedImage() on Fastify, in-memory',
  expressRedis: 'Express + ioredis getBuffer',
  oursRedis: '@ResizedImage(), Redis + hot cache',
  oursRedisOnly: '@ResizedImage(), Redis only',
  next: 'Next.js image optimizer',
  ipx: 'IPX',
} as const;

const MAX_RSS = 350 * 1048576;
/** The environment the README recommends for production. */
export const RECOMMENDED_ENV = 'MALLOC_ARENA_MAX=2';
/** Growth under which RSS counts as flat. */
const FLAT = 0.05;

/**
 * Growth of RSS minus the bytes the in-memory cache holds (it fills by design, up to
 * `memory.maxBytes`) over the second half of the run: the least-squares slope of the samples taken
 * from the middle on (each after a full GC), over the half's length, relative to their mean. What
 * grows there besides the cache would be a leak or fragmentation.
 */
export function netGrowth(run: MemoryRun): number {
  const total = run.marks[run.marks.length - 1]?.requests ?? 0;
  const half = run.marks.filter((m) => m.requests >= total / 2);
  const xs = half.map((m) => m.requests);
  const ys = half.map((m) => m.rss - m.cacheBytes);
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const [mx, my] = [mean(xs), mean(ys)];
  const slope =
    xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0) /
    xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return (slope * (total / 2)) / my;
}

const pct = (run: MemoryRun | undefined) => (run ? `${(netGrowth(run) * 100).toFixed(1)}%` : 'n/a');
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const yes = (met: boolean) => (met ? 'yes' : '**no**');

/** What each target of the issue asks for, and whether this run met it. */
export function targets(r: Results) {
  const rps = (table: Record<string, Measured>, name: string) => table[name]?.rps ?? NaN;
  const a = rps(r.hitsRedis, TARGET.oursRedis) / rps(r.hitsRedis, TARGET.expressRedis);
  const aCold = rps(r.hitsRedis, TARGET.oursRedisOnly) / rps(r.hitsRedis, TARGET.expressRedis);
  const bEnd = rps(r.hitsMemory, TARGET.oursMemory) / rps(r.hitsMemory, TARGET.expressEnd);
  const bSend = rps(r.hitsMemory, TARGET.oursMemory) / rps(r.hitsMemory, TARGET.expressSend);
  const nest = rps(r.hitsMemory, TARGET.nestCeiling) / rps(r.hitsMemory, TARGET.expressEnd);
  const bestPeer = Math.max(rps(r.peers.measured, TARGET.next), rps(r.peers.measured, TARGET.ipx));
  const peersExpress = rps(r.peers.measured, TARGET.oursMemory) / bestPeer;
  const peersFastify = rps(r.peers.measured, TARGET.oursFastify) / bestPeer;
  const worstMiss = Math.max(...r.misses.map((row) => row.ratio));
  const isolation = r.missBreakdown?.rows
    .map((row) => `${row.format} +${fixed(row.processorMs - row.workMs)} ms`)
    .join(', ');
  const worstThroughput = r.missThroughput ? Math.min(...r.missThroughput.rows.map((row) => row.ratio)) : NaN;
  const flight = [r.singleFlight.memory, r.singleFlight.redis];
  const peak = Math.max(...r.memory.map((run) => run.peakRss));
  const recommended = r.memory.find((run) => run.env === RECOMMENDED_ENV);
  const defaults = r.memory.find((run) => run.env === '(defaults)');
  return [
    {
      id: '(a)',
      what: 'Redis-backed hit / Express + ioredis getBuffer',
      value: fixed(a),
      target: '≥ 0.85',
      met: a >= 0.85,
      note: `without the hot cache (every hit reads Redis): ${fixed(aCold)}`,
    },
    {
      id: '(b)',
      what: 'in-memory hit / bare Express res.send() of the same Buffer',
      value: fixed(bSend),
      target: '≥ 0.85',
      met: bSend >= 0.85,
      note: `against a hand-written Express res.end() with the same headers (the ceiling): ${fixed(bEnd)}, where a bare Nest @Res() route writing the same bytes reaches ${fixed(nest)}`,
    },
    {
      id: '(c)',
      what: 'miss / bare sharp, worst format',
      value: fixed(worstMiss),
      target: '≤ 1.05 per format (≤ 1.10 with the cost of isolation named)',
      met:
        r.misses.every((row) => row.ratio <= 1.05) ||
        (isolation !== undefined && r.misses.every((row) => row.ratio <= 1.1)),
      note: `${r.misses.map((row) => `${row.format} ${fixed(row.ratio)}`).join(', ')}${isolation ? `; isolation (the child process, /dev/shm, the round trip): ${isolation}` : ''}`,
    },
    {
      id: '(c)',
      what: 'concurrent misses of distinct images / bare sharp at the same concurrency, worst format',
      value: fixed(worstThroughput),
      target: '≥ 0.9',
      met: worstThroughput >= 0.9,
      note: r.missThroughput
        ? `${r.missThroughput.images} distinct 3.1 MP JPEGs, ${r.missThroughput.concurrency} at a time, images/s: ${r.missThroughput.rows.map((row) => `${row.format} ${fixed(row.ratio)}`).join(', ')}; CPU per image, bare sharp / library: ${r.missThroughput.rows.map((row) => `${row.format} ${fixed(row.sharpCpuMs / row.libraryCpuMs)}`).join(', ')}`
        : 'not measured',
    },
    {
      id: '(d)',
      what: '100 concurrent requests for one new image: origin fetches, resizes',
      value: flight.map((f) => `${f.fetches}, ${f.resizes}`).join(' / '),
      target: '1, 1',
      met: flight.every((f) => f.fetches === 1 && f.resizes === 1 && f.ok === 100),
      note: `in-memory (1 instance) / Redis (${r.singleFlight.redis.instances} instances)`,
    },
    {
      id: '(e)',
      what: 'repeated requests / best peer (Next.js or IPX)',
      value: `${fixed(peersFastify)} on Fastify, ${fixed(peersExpress)} on Express`,
      target: '> 1',
      met: Math.max(peersFastify, peersExpress) > 1,
      note: 'same photo and size; on Express the library is bound by what a Nest route on Express costs (see the Nest @Res() ceiling in (b))',
    },
    {
      id: '(f)',
      what: 'peak RSS; growth of RSS net of cached images over the second half',
      value: `${mb(peak)}; ${pct(defaults)}`,
      target: '≤ 350 MB, flat',
      met: peak <= MAX_RSS && defaults !== undefined && netGrowth(defaults) <= FLAT,
      note: `glibc's defaults; with ${RECOMMENDED_ENV} (README): ${pct(recommended)}; flat = under ${FLAT * 100}%; ${r.settings.mixedRequests} requests, 1 in 20 a miss`,
    },
  ];
}

function hitTable(table: Record<string, Measured>, baseline: string): string {
  const rows = Object.entries(table).map(
    ([name, m]) =>
      `| ${name} | ${m.rps.toFixed(0)} | ${fixed(m.rps / table[baseline].rps)} | ${fixed(m.p50)} | ${fixed(m.p90)} | ${fixed(m.p99)} | ${m.rounds.map((x) => x.toFixed(0)).join(', ')} |`,
  );
  return [
    `| target | req/s | / ${baseline} | p50 ms | p90 ms | p99 ms | rounds (req/s) |`,
    '|---|---:|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
}

function attackRow(name: string, p: AttackPhase): string {
  const hostile = Object.entries(p.hostile).map(([status, count]) => `${count} × ${status}`);
  return `| ${name} | ${fixed(p.p50Ms, 1)} | ${fixed(p.p99Ms, 1)} | ${p.failed} | ${mb(p.peakRss)} | ${hostile.join(', ') || 'none'} |`;
}

/** (c): where a miss's time goes, layer by layer; the HTTP miss is the table above's. */
export function renderMissBreakdown(b: MissBreakdown, http: MissRow[]): string {
  const row = (r: MissBreakdownRow) => {
    const miss = http.find((m) => m.format === r.format)?.libraryMs ?? NaN;
    const cells = [r.sharpMs, r.workMs, r.processorMs, r.serviceMs, miss].map((ms) => fixed(ms, 1));
    const added = [
      r.workMs - r.sharpMs,
      r.processorMs - r.workMs,
      r.serviceMs - r.processorMs,
      miss - r.serviceMs,
    ];
    return `| ${r.format} | ${cells.join(' | ')} | ${added.map((ms) => `${ms >= 0 ? '+' : ''}${fixed(ms, 2)}`).join(' | ')} |`;
  };
  return `
Where the time goes: the same photo and settings through each layer of the library in turn, in one
process on the server core without HTTP (${b.misses} misses per format and layer, the layers taking turns;
medians, ms). The work in-process is what \`SharpImageProcessor.process\` does, its child process
aside: the container checks, the header, \`makeImage\`. Through the child adds the input written to
/dev/shm and read back, the child's round trip and the output sent back: the cost of isolating the
work in a process that can be killed. The service adds the cache lookup, the single flight, the ETag
and the store; HTTP (the table above, measured apart) adds the request through Express and Nest.

| format | bare sharp | the work in-process | through the child | the service | HTTP miss | header and checks | isolation | service | HTTP |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${b.rows.map(row).join('\n')}
`;
}

/** (c): concurrent misses of distinct images against bare sharp at the same concurrency. */
export function renderMissThroughput(t: MissThroughput): string {
  const rounds = (values: number[]) => values.map((v) => v.toFixed(1)).join(', ');
  return `
Concurrent misses: ${t.images} distinct 3.1 MP JPEGs (the photo with different grain), ${t.concurrency} requests at a
time (the machine's cores) to the library running on every core with its default \`concurrency\`
(as many image workers), against bare sharp on every core resizing ${t.concurrency} images at a time with its
defaults; a new cacheKey per image and round. Images per second, median of the rounds.

| format | library | bare sharp | ratio | rounds, library | rounds, bare sharp | CPU per image, library | CPU per image, bare sharp | bare / library CPU |
|---|---:|---:|---:|---|---|---:|---:|---:|
${t.rows.map((r) => `| ${r.format} | ${fixed(r.libraryPerSecond, 1)} | ${fixed(r.sharpPerSecond, 1)} | ${fixed(r.ratio)} | ${rounds(r.rounds.library)} | ${rounds(r.rounds.sharp)} | ${fixed(r.libraryCpuMs, 1)} ms | ${fixed(r.sharpCpuMs, 1)} ms | ${fixed(r.sharpCpuMs / r.libraryCpuMs)} |`).join('\n')}

CPU per image: the server and its image workers for the library (the client, which shares the
machine, left out), bare sharp's process (every thread) for sharp. Its ratio is the throughput ratio
the machine would give if nothing else ran on it; images/s also carry what else did.
`;
}

/** The (h) section of bench/results/latest.md. */
export function renderPlaceholders(p: PlaceholderSection): string {
  const spread = (s: Spread, digits = 1) => `${fixed(s.p50, digits)} / ${fixed(s.p95, digits)}`;
  const mp = (row: PlaceholderRow) => (row.width * row.height) / 1e6;
  const original = (row: PlaceholderRow) =>
    `${row.original}, ${row.width}x${row.height} ${row.format} (${fixed(mp(row), mp(row) < 0.1 ? 2 : 1)} MP, ${(row.inputBytes / 1024).toFixed(0)} KB)`;
  return `## (h) Placeholders: \`ImageResizeService.placeholder()\`, a 16 px WebP data URL

Called in a process of its own on the server core, no HTTP. A miss (a new cacheKey each, ${p.misses} per
original, one after another) is the whole call: cache lookup, the work in one of the library's image
workers (child processes, ${p.workers} here) **including the round trip to it** (the input sent, the
placeholder sent back), and the store. "Same work in-process" is the library's own placeholder code
(header checks, one decode to 64 px, dominant colour, 16 px WebP at effort 6) run in the calling
process: what the miss adds to it is the pool and the cache. Bare sharp is
\`sharp(input).resize(16).webp()\` in the calling process, the least a 16 px WebP costs. Each miss is
followed by one run of each of the other two. Median / p95, ms; the photo is the fixture of (c), the
logos are the example app's.

| original | miss (library) | same work in-process | bare sharp | miss / bare sharp (medians) | data URL, bytes | bare sharp's WebP as a data URL, bytes |
|---|---:|---:|---:|---:|---:|---:|
${p.rows.map((row) => `| ${original(row)} | ${spread(row.libraryMs)} | ${spread(row.workMs)} | ${spread(row.sharpMs)} | ${fixed(row.ratio)} | ${row.bytes} | ${row.sharpBytes} |`).join('\n')}

A hit: \`placeholder()\` of the photo's cached placeholder, ${p.hits} calls one after another (after 200
unmeasured), µs per call, median / p95; with Redis, each call alternates with an ioredis
\`getBuffer\` of the key the library stored it under (Redis on the client core).

| backend | placeholder() hit | ioredis getBuffer of its key |
|---|---:|---:|
${p.hitRows.map((h) => `| ${h.backend} | ${spread(h.us, 0)} | ${h.baseline ? spread(h.baseline.us, 0) : '—'} |`).join('\n')}

The section took ${p.seconds.toFixed(1)} s.
`;
}

/** bench/results/latest.md */
export function renderMarkdown(r: Results): string {
  const m = r.machine as { cpus: number; cpuModel: string; node: string; sharp: string; libvips: string };
  const goals = targets(r);
  return `# Benchmark results

${r.date.slice(0, 16).replace('T', ' ')} UTC, ${m.cpus} × ${m.cpuModel}, Node ${m.node}, sharp ${m.sharp} (libvips ${m.libvips}).
Servers on core 0, wrk and Redis on core 1. wrk: ${r.settings.wrk.connections} connections, ${r.settings.wrk.duration} s per round,
median of ${r.settings.rounds} rounds after a 2 s warm-up per target. Re-run with \`npm run bench\`.

## Targets

| | ratio or figure | measured | target | met | |
|---|---|---:|---|---|---|
${goals.map((g) => `| ${g.id} | ${g.what} | ${g.value} | ${g.target} | ${yes(g.met)} | ${g.note} |`).join('\n')}

![req/s and latency](latest.svg)

## (b) Cache hit, in-memory backend (${r.bodyBytes}-byte PNG)

${hitTable(r.hitsMemory, TARGET.expressEnd)}

## (a) Cache hit, Redis backend

${hitTable(r.hitsRedis, TARGET.expressRedis)}

## (c) Miss cost: 256 px from a 3.1 MP JPEG, one image at a time (ms per image, median)

The library's time is the whole request (HTTP, cache lookup, header check, resize, ETag, store);
bare sharp's is the same pipeline with the same encoder settings in a process of its own on the same
core, kept warm. The two take turns image by image (${r.settings.rounds * r.settings.misses} of each per format), so that what else
the machine does weighs on both alike; "same bytes" compares every pair.

| format | library | bare sharp | ratio | same bytes |
|---|---:|---:|---:|---|
${r.misses.map((row) => `| ${row.format} | ${fixed(row.libraryMs, 1)} | ${fixed(row.sharpMs, 1)} | ${fixed(row.ratio)} | ${row.sameBytes ? 'yes' : 'no'} |`).join('\n')}
${r.missBreakdown ? renderMissBreakdown(r.missBreakdown, r.misses) : ''}${r.missThroughput ? renderMissThroughput(r.missThroughput) : ''}
## (d) 100 concurrent requests for one uncached image (origin answers after 200 ms)

| backend | instances | answered 200 | origin fetches | resizes |
|---|---:|---:|---:|---:|
${(['memory', 'redis'] as const)
  .map((k) => {
    const f = r.singleFlight[k];
    return `| ${k} | ${f.instances} | ${f.ok} | ${f.fetches} | ${f.resizes} |`;
  })
  .join('\n')}

## (e) Peers: 256 px wide JPEG q75 of the photo, repeated requests

${hitTable(r.peers.measured, TARGET.oursMemory)}

| server | output |
|---|---|
${Object.entries(r.peers.outputs)
  .map(([name, o]) => `| ${name} | ${o.width}x${o.height} ${o.format}, ${o.bytes} bytes |`)
  .join('\n')}

## (f) Memory: ${r.settings.mixedRequests} requests, 16 at a time, 1 in 20 a new image

The in-memory cache fills as new images come (up to \`memory.maxBytes\`, 64 MiB by default), so RSS
grows by what it holds; "growth without the cache" leaves those bytes out.

| environment | peak RSS | RSS at ${r.settings.mixedRequests / 2} | RSS at ${r.settings.mixedRequests} | cache at the end | growth without the cache | time | failed |
|---|---:|---:|---:|---:|---:|---:|---:|
${r.memory.map((run) => `| ${run.env} | ${mb(run.peakRss)} | ${mb(run.rssAtHalf)} | ${mb(run.rssAtEnd)} | ${mb(run.cacheAtEnd)} | ${pct(run)} | ${run.seconds.toFixed(1)} s | ${run.failed} |`).join('\n')}

Growth without the cache: RSS minus the bytes the cache holds, sampled every 1000 requests after a
full GC; the least-squares trend over the second half of the run, as a share of its mean.

## (g) Ordinary misses under attack

${r.attack.calm.misses} misses of the photo (256 px JPEG, a new cacheKey each), one after another, first alone, then
while ${ATTACKERS} clients send hostile originals without pause: ${r.attack.classes.join(', ')}. The server runs
with \`allowSvg\` and a 2 s \`processingTimeoutMs\`; RSS is the server's and its image workers'.

| phase | p50 ms | p99 ms | failed | peak RSS | hostile requests answered |
|---|---:|---:|---:|---:|---|
${attackRow('alone', r.attack.calm)}
${attackRow('under attack', r.attack.underAttack)}

${renderPlaceholders(r.placeholders)}
${r.fleet ? renderFleet(r.fleet) : ''}
## Commands

\`\`\`
${r.commands.join('\n')}
\`\`\`
`;
}

/**
 * bench/results/latest.svg: req/s (bars, linear) and latency p50/p90/p99 (nested bars on a log scale,
 * so that a server a hundred times slower does not flatten the rest) of every wrk target.
 */
export function renderChart(r: Results): string {
  const sections: Array<[string, Record<string, Measured>]> = [
    ['Cache hit, in memory', r.hitsMemory],
    ['Cache hit, Redis', r.hitsRedis],
    ['Peers, repeated requests', r.peers.measured],
  ];
  const rowHeight = 26;
  const labelWidth = 280;
  const panel = 340;
  const gap = 50;
  const latencyWidth = 300;
  const x2 = labelWidth + panel + gap;
  const width = x2 + latencyWidth + 170;
  const maxRps = Math.max(...sections.flatMap(([, t]) => Object.values(t).map((m) => m.rps)));
  // Log scale from 0.5 ms to the next power of ten above the slowest p99.
  const low = 0.5;
  const high =
    10 ** Math.ceil(Math.log10(Math.max(...sections.flatMap(([, t]) => Object.values(t).map((m) => m.p99)))));
  const ms = (value: number) =>
    (Math.log10(Math.max(value, low) / low) / Math.log10(high / low)) * latencyWidth;
  const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [];
  let y = 50;
  for (const [title, table] of sections) {
    parts.push(`<text x="10" y="${y + 4}" class="h">${esc(title)}</text>`);
    y += 14;
    for (const [name, m] of Object.entries(table)) {
      const rpsWidth = (m.rps / maxRps) * (panel - 60);
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${esc(name)}</text>`,
        `<rect x="${labelWidth}" y="${y + 4}" width="${rpsWidth.toFixed(1)}" height="16" class="${name.startsWith('@ResizedImage') ? 'ours' : 'other'}"/>`,
        `<text x="${labelWidth + rpsWidth + 5}" y="${y + 16}">${m.rps.toFixed(0)}</text>`,
        `<rect x="${x2}" y="${y + 4}" width="${ms(m.p99).toFixed(1)}" height="16" class="p99"/>`,
        `<rect x="${x2}" y="${y + 4}" width="${ms(m.p90).toFixed(1)}" height="16" class="p90"/>`,
        `<rect x="${x2}" y="${y + 4}" width="${ms(m.p50).toFixed(1)}" height="16" class="p50"/>`,
        `<text x="${x2 + ms(m.p99) + 5}" y="${y + 16}">${fixed(m.p50)} / ${fixed(m.p90)} / ${fixed(m.p99)}</text>`,
      );
      y += rowHeight;
    }
    y += 12;
  }
  const ticks = [];
  for (let tick = 1; tick <= high; tick *= 10) {
    ticks.push(
      `<line x1="${x2 + ms(tick)}" y1="34" x2="${x2 + ms(tick)}" y2="${y}" class="grid"/>`,
      `<text x="${x2 + ms(tick)}" y="${y + 14}" text-anchor="middle" class="tick">${tick} ms</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 24}" viewBox="0 0 ${width} ${y + 24}" font-family="system-ui, sans-serif" font-size="12">
<style>text{fill:#1f2937}.h{font-weight:600;font-size:13px}.t{font-weight:600}.tick{fill:#6b7280;font-size:11px}.grid{stroke:#e5e7eb}.ours{fill:#2563eb}.other{fill:#9ca3af}.p50{fill:#1e3a8a}.p90{fill:#60a5fa}.p99{fill:#bfdbfe}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${labelWidth}" y="24" class="t">requests/s (more is better)</text>
<text x="${x2}" y="24" class="t">latency p50 / p90 / p99, log scale (less is better)</text>
${ticks.join('\n')}
${parts.join('\n')}
</svg>
`;
}
