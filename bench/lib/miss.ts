import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Agent, get as httpGet } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { treeCpuSeconds } from '../../test/support/process-tree';
import { freePort } from '../../test/support/redis-server';
import { writeDistinctPhotos } from './fixtures';
import { ALL_CORES, onCore, run, SERVER_CORE, shown, start, waitForHttp } from './processes';
import type { MissBreakdown, MissRow, MissThroughput, MissThroughputRow } from './report';
import { median } from './wrk';

/** What the miss measurements need of bench/run.ts. */
export interface MissContext {
  /** The path of a compiled bench file (`servers/…`). */
  built: (path: string) => string;
  log: (line: string) => void;
  /** Notes a command for the record. */
  record: (command: string) => void;
  /** Registers what stops a process the measurement started, should the run fail. */
  onStop: (stop: () => Promise<unknown>) => void;
  rounds: number;
  misses: number;
  formats: readonly string[];
}

/**
 * GET over kept-alive connections, `sockets` at most, with node:http: a client that costs a fraction
 * of what `fetch` does (about 0.15 against 0.4 ms of CPU per request here), so that the load
 * generator, which shares the machine, weighs less on what is measured.
 */
function client(base: string, sockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const request = (path: string) =>
    new Promise<{ status: number; cache: string | undefined; body: Buffer }>((resolve, reject) => {
      httpGet(`${base}${path}`, { agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            cache: response.headers['x-cache'] as string | undefined,
            body: Buffer.concat(chunks),
          }),
        );
      }).on('error', reject);
    });
  return { get: request, close: () => agent.destroy() };
}

/** bench/servers/sharp-baseline.js kept running on the server core: one image of the photo per call. */
function bareSharp(ctx: MissContext, photo: string) {
  const [command, args] = onCore(SERVER_CORE, process.execPath, [
    ctx.built('servers/sharp-baseline.js'),
    '--serve',
    photo,
  ]);
  ctx.record(shown(command, args));
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.stdin.end();
    await exited;
  };
  ctx.onStop(stop);
  const waiting: Array<(answer: { ms: number; sha1: string }) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  const one = (format: string) =>
    new Promise<{ ms: number; sha1: string }>((resolve, reject) => {
      if (child.exitCode !== null) reject(new Error('the bare sharp process has exited'));
      waiting.push(resolve);
      child.stdin.write(`${format}\n`);
    });
  return { one, stop };
}

/**
 * The miss cost, per format: the library's miss of the photo over HTTP (a new cacheKey each), timed
 * by the client, and bare sharp making the same image in a process of its own on the same core,
 * timed there; the two take turns image by image (which goes first alternating), so that whatever
 * else the machine does weighs on both alike. `rounds` x `misses` of each, after two unmeasured.
 */
export async function missCost(ctx: MissContext, url: string, photo: string): Promise<MissRow[]> {
  const bare = bareSharp(ctx, photo);
  const http = client(url, 1);
  const rows: MissRow[] = [];
  let key = 0;
  try {
    for (const format of ctx.formats) {
      let sameBytes = true;
      const library = async () => {
        const began = process.hrtime.bigint();
        const { cache, body } = await http.get(`/photo/miss-${key++}.${format}`);
        const ms = Number(process.hrtime.bigint() - began) / 1e6;
        if (cache !== 'MISS') throw new Error(`expected a miss for ${format}`);
        return { ms, sha1: createHash('sha1').update(body).digest('hex') };
      };
      // Unmeasured: the encoder loaded on both sides.
      for (let i = 0; i < 2; i++) await bare.one(format).then(library);
      const ours: number[] = [];
      const sharp: number[] = [];
      for (let i = 0; i < ctx.rounds * ctx.misses; i++) {
        const [a, b] =
          i % 2 ? [await bare.one(format), await library()] : [await library(), await bare.one(format)];
        const [mine, theirs] = i % 2 ? [b, a] : [a, b];
        ours.push(mine.ms);
        sharp.push(theirs.ms);
        sameBytes &&= mine.sha1 === theirs.sha1;
      }
      const row = {
        format,
        libraryMs: median(ours),
        sharpMs: median(sharp),
        ratio: median(ours) / median(sharp),
        sameBytes,
      };
      ctx.log(
        `  ${format.padEnd(5)} library ${row.libraryMs.toFixed(1)} ms, sharp ${row.sharpMs.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}${sameBytes ? '' : ' (bytes differ!)'}`,
      );
      rows.push(row);
    }
  } finally {
    http.close();
    await bare.stop();
  }
  return rows;
}

/**
 * Where a miss's time goes, per format: bench/servers/miss-subject.ts on the server core, bare sharp
 * and each layer of the library in turn, without HTTP.
 */
export async function missBreakdown(ctx: MissContext, photo: string): Promise<MissBreakdown> {
  const args = [ctx.built('servers/miss-subject.js'), photo, String(ctx.misses), String(ctx.rounds)];
  ctx.record(shown(...onCore(SERVER_CORE, process.execPath, args)));
  const output = (await run(SERVER_CORE, process.execPath, args)).trim();
  const last = output.slice(output.lastIndexOf('\n') + 1);
  if (!last.startsWith('{')) throw new Error(`miss-subject printed no result:\n${output}`);
  const measured = JSON.parse(last) as MissBreakdown;
  for (const row of measured.rows) {
    ctx.log(
      `  ${row.format.padEnd(5)} bare sharp ${row.sharpMs.toFixed(1)} ms, the work in-process ${row.workMs.toFixed(1)}, through the child ${row.processorMs.toFixed(1)}, the service ${row.serviceMs.toFixed(1)}`,
    );
  }
  return measured;
}

/** Distinct originals of the concurrent misses. */
const DISTINCT = Number(process.env.BENCH_DISTINCT ?? 40);

/**
 * Concurrent misses: {@link DISTINCT} distinct photos, as many requests at a time as the machine has
 * cores (this process is pinned to one: `availableParallelism()` would say 1), to the library on
 * every core (its default `concurrency`, so as many image workers), against bare sharp on every
 * core with as many images at a time (its defaults otherwise). Each round, per format, runs both,
 * which goes first alternating; images per second, medians of the rounds.
 */
export async function missThroughput(ctx: MissContext, work: string): Promise<MissThroughput> {
  const concurrency = cpus().length;
  const dir = join(work, 'distinct');
  await writeDistinctPhotos(dir, DISTINCT);
  const port = await freePort();
  const env = { PORT: String(port), FIXTURES: work, DISTINCT: dir };
  const server = start(
    'library, every core',
    ALL_CORES,
    process.execPath,
    [ctx.built('servers/nest-subject.js')],
    env,
  );
  ctx.onStop(() => server.stop());
  ctx.record(server.command);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, server);
  const http = client(url, concurrency);
  /** `count` requests, `concurrency` at a time: seconds, and CPU seconds of the server and its workers. */
  const burst = async (format: string, label: string, count: number) => {
    let next = 0;
    const pid = server.child.pid!;
    const cpu = treeCpuSeconds(pid);
    const began = process.hrtime.bigint();
    const client = async () => {
      while (next < count) {
        const index = next++;
        const { status, cache } = await http.get(`/distinct/${index}/${label}.${format}`);
        if (status !== 200 || cache !== 'MISS') {
          throw new Error(`expected a miss of ${format} #${index}, got ${status}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
    const seconds = Number(process.hrtime.bigint() - began) / 1e9;
    return { seconds, cpuSeconds: treeCpuSeconds(pid) - cpu };
  };
  const rows: MissThroughputRow[] = [];
  try {
    for (const format of ctx.formats) {
      // Unmeasured: every image worker forked, the encoder loaded in each.
      await burst(format, 'warm', concurrency);
      const library: number[] = [];
      const sharp: number[] = [];
      const libraryCpu: number[] = [];
      const sharpCpu: number[] = [];
      for (let round = 0; round < ctx.rounds; round++) {
        const args = [
          ctx.built('servers/sharp-baseline.js'),
          '--concurrent',
          dir,
          format,
          String(concurrency),
        ];
        if (round === 0) ctx.record(shown(...onCore(ALL_CORES, process.execPath, args)));
        const ours = async () => {
          const { seconds, cpuSeconds } = await burst(format, `round-${round}`, DISTINCT);
          library.push(DISTINCT / seconds);
          libraryCpu.push((cpuSeconds * 1000) / DISTINCT);
        };
        const theirs = async () => {
          const bare = JSON.parse(await run(ALL_CORES, process.execPath, args)) as {
            images: number;
            seconds: number;
            cpuSeconds: number;
          };
          sharp.push(bare.images / bare.seconds);
          sharpCpu.push((bare.cpuSeconds * 1000) / bare.images);
        };
        // Which goes first alternates from round to round.
        for (const side of round % 2 ? [theirs, ours] : [ours, theirs]) await side();
      }
      const row = {
        format,
        libraryPerSecond: median(library),
        sharpPerSecond: median(sharp),
        ratio: median(library) / median(sharp),
        libraryCpuMs: median(libraryCpu),
        sharpCpuMs: median(sharpCpu),
        rounds: { library, sharp },
      };
      ctx.log(
        `  ${format.padEnd(5)} library ${row.libraryPerSecond.toFixed(1)} images/s, sharp ${row.sharpPerSecond.toFixed(1)} images/s, ratio ${row.ratio.toFixed(2)}; CPU per image ${row.libraryCpuMs.toFixed(1)} ms against ${row.sharpCpuMs.toFixed(1)} (${(row.sharpCpuMs / row.libraryCpuMs).toFixed(2)})`,
      );
      rows.push(row);
    }
  } finally {
    http.close();
    await server.stop();
  }
  return { images: DISTINCT, concurrency, rows };
}
