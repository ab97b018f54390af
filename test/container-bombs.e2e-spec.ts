import { gzipSync } from 'node:zlib';
import type { INestApplication } from '@nestjs/common';
import sharp from 'sharp';
import request from 'supertest';
import {
  jpegWithRepeatedScans,
  ordinarySvg,
  pngWithIccpBomb,
  pngWithTextBomb,
  progressiveJpeg,
  smallPng,
  svgEmbeddingRaster,
  svgEntityBomb,
  svgUseBomb,
  textChunk,
  withChunks,
} from './support/bombs/containers';
import { binary } from './support/binary';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { descendants, treeCpuSeconds, treeRssBytes } from './support/process-tree';
import { createTestApp } from './support/test-app';

/**
 * Originals that are small on the wire and huge to decode, served by an origin on loopback. Each is
 * answered without decoding what makes it a bomb: the process's memory and CPU barely move.
 * `CONTAINER_BOMBS_TABLE=1` prints what each one cost.
 */

/** Generous bounds: an unchecked bomb costs gigabytes or seconds of CPU, an ordinary miss far less. */
const MAX_RSS_GROWTH = 200 * 1024 * 1024;
const MAX_CPU_SECONDS = 1.5;
/**
 * The sharp this package installs (libpng 1.6) inflates about 50 of the text chunks, in about
 * 0.8 CPU-s for the request, and frees them: a tighter bound, still several times what serving the
 * stripped 1x1 PNG costs.
 */
const MAX_TEXT_BOMB_CPU_SECONDS = 0.5;
/** How long the CPU is watched after the answer, for work that outlives it. */
const AFTER_MS = 1000;

interface Cost {
  status: number;
  message?: string;
  wallMs: number;
  /** CPU of the process and its children (all threads) from the request until AFTER_MS after the answer. */
  cpuSeconds: number;
  cpuAfterSeconds: number;
  /** Largest RSS of the process and its children seen (every 10 ms until the answer, then 1 s later), minus theirs before the request. */
  rssGrowth: number;
  peakRss: number;
}

/** The work may run in child processes (the processor's pool): they count as the process's own. */
function treeUsage(pids: number[]): { rss: number; cpuSeconds: number } {
  return { rss: treeRssBytes(process.pid, pids), cpuSeconds: treeCpuSeconds(process.pid, pids) };
}

/** Requests `path` and watches the process and its children while it is answered and for AFTER_MS after. */
async function measure(app: INestApplication, path: string): Promise<Cost> {
  let pids = descendants();
  const before = treeUsage(pids);
  let peakRss = before.rss;
  let samples = 0;
  const sampler = setInterval(() => {
    if (++samples % 20 === 0) pids = descendants(); // a child may be forked or replaced meanwhile
    peakRss = Math.max(peakRss, treeUsage(pids).rss);
  }, 10);
  const started = process.hrtime.bigint();
  try {
    const res = await request(app.getHttpServer()).get(path);
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    clearInterval(sampler); // its own CPU is not the work's
    const atAnswer = treeUsage(pids);
    await new Promise((resolve) => setTimeout(resolve, AFTER_MS));
    const after = treeUsage(descendants());
    peakRss = Math.max(peakRss, atAnswer.rss, after.rss);
    return {
      status: res.status,
      message: res.body?.message,
      wallMs,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      cpuAfterSeconds: after.cpuSeconds - atAnswer.cpuSeconds,
      rssGrowth: peakRss - before.rss,
      peakRss,
    };
  } finally {
    clearInterval(sampler);
  }
}

const table: string[] = [];
const MB = 1024 * 1024;

let origin: TestOrigin;
let app: INestApplication;
const sizes = new Map<string, number>();

beforeAll(async () => {
  const files: Record<string, [Buffer, string]> = {
    '/jpeg-scans.jpg': [await jpegWithRepeatedScans({ size: 6000, repeats: 1000 }), 'image/jpeg'],
    '/ztxt.png': [await pngWithTextBomb({ type: 'zTXt' }), 'image/png'],
    '/itxt.png': [await pngWithTextBomb({ type: 'iTXt' }), 'image/png'],
    '/iccp.png': [await pngWithIccpBomb(), 'image/png'],
    '/raster-100mp.svg': [await svgEmbeddingRaster(100), 'image/svg+xml'],
    '/raster-400mp.svg': [await svgEmbeddingRaster(400), 'image/svg+xml'],
    '/use-tree.svg': [svgUseBomb(), 'image/svg+xml'],
    '/use-tree.svgz': [gzipSync(svgUseBomb()), 'image/svg+xml'],
    '/laughs.svg': [svgEntityBomb(), 'image/svg+xml'],
    '/progressive.jpg': [await progressiveJpeg(1200), 'image/jpeg'],
    '/text.png': [withChunks(await smallPng(300), [textChunk('tEXt', 'Title', 0, 'A logo')]), 'image/png'],
    '/ordinary.svg': [ordinarySvg(), 'image/svg+xml'],
  };
  origin = await startOrigin(
    Object.fromEntries(
      Object.entries(files).map(([path, [body, contentType]]) => [path, { body, contentType }]),
    ),
  );
  for (const [path, [body]] of Object.entries(files)) sizes.set(path, body.length);
  app = await createTestApp(origin.url, { allowSvg: true });
  // Ordinary misses first, at once: the processor's child processes start now, not during a bomb.
  await Promise.all(
    ['/progressive.jpg', '/text.png', '/ordinary.svg'].map((path) =>
      request(app.getHttpServer()).get(`/logo-large${path}`).expect(200),
    ),
  );
}, 60_000);

afterAll(async () => {
  await app?.close();
  await origin?.close();
  if (process.env.CONTAINER_BOMBS_TABLE && table.length > 0) {
    process.stdout.write(
      [
        '| original | size | status | wall | CPU-s in all | CPU-s after the answer | RSS growth | peak RSS |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...table,
      ].join('\n') + '\n',
    );
  }
});

function record(path: string, cost: Cost): void {
  const size = sizes.get(path) ?? 0;
  table.push(
    `| ${path.slice(1)} | ${size >= 10_000 ? `${Math.round(size / 1024)} KB` : `${size} bytes`} ` +
      `| ${cost.status} | ${Math.round(cost.wallMs)} ms | ${cost.cpuSeconds.toFixed(2)} ` +
      `| ${cost.cpuAfterSeconds.toFixed(2)} | ${Math.round(cost.rssGrowth / MB)} MB | ${Math.round(cost.peakRss / MB)} MB |`,
  );
}

describe('known bombs are refused before decoding', () => {
  it.each([
    [
      '/jpeg-scans.jpg',
      /more than 100 scans/,
      'a 6000x6000 progressive JPEG whose luma AC scan repeats 1000 times',
    ],
    ['/iccp.png', /ICC profile/, 'a 1x1 PNG whose ICC profile inflates to 100 MB'],
    ['/raster-100mp.svg', /data: URL/, 'an SVG embedding a 100 MP PNG'],
    ['/raster-400mp.svg', /data: URL/, 'an SVG embedding a 400 MP PNG'],
    ['/use-tree.svg', /expands to more than/, 'an exponential <use> tree'],
    ['/use-tree.svgz', /expands to more than/, 'the same tree, gzip-compressed'],
    ['/laughs.svg', /entities/, 'the billion laughs'],
  ])('%s: 422 with its reason, memory and CPU barely moved (%s)', async (path, reason) => {
    const cost = await measure(app, `/logo${path}`);
    record(path, cost);
    expect(cost.status).toBe(422);
    expect(cost.message).toMatch(reason);
    expect(cost.rssGrowth).toBeLessThan(MAX_RSS_GROWTH);
    expect(cost.cpuSeconds).toBeLessThan(MAX_CPU_SECONDS);
  });

  it.each([
    ['/ztxt.png', 'a 1x1 PNG with 100 zTXt chunks that inflate to 7.9 MB each'],
    ['/itxt.png', 'a 1x1 PNG with 100 iTXt chunks that inflate to 7.9 MB each'],
  ])('%s: its text chunks are stripped unread, and the image is served (%s)', async (path) => {
    const cost = await measure(app, `/logo${path}`);
    record(path, cost);
    expect(cost.status).toBe(200);
    expect(cost.rssGrowth).toBeLessThan(MAX_RSS_GROWTH);
    expect(cost.cpuSeconds).toBeLessThan(MAX_TEXT_BOMB_CPU_SECONDS);
  });

  it.each(['/progressive.jpg', '/text.png', '/ordinary.svg'])(
    'still serves the ordinary %s',
    async (path) => {
      const res = await request(app.getHttpServer()).get(`/logo${path}`).buffer(true).parse(binary);
      expect(res.status).toBe(200);
      expect((await sharp(res.body as Buffer).metadata()).format).toBe('png');
    },
  );
});
