import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  type ImageResizeEvent,
  ImageResizeMetrics,
  ImageResizeModule,
  type ImageResizeModuleOptions,
  ResizedImage,
} from 'nestjs-image-resize';
import request from 'supertest';
import { jpegWithRepeatedScans } from './support/bombs/containers';
import { deepAvif, deepPng, slowGradientPng } from './support/bombs/processing';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { isAlive, sampleTreeRss, treeCpuSeconds, treeRssBytes, workerPids } from './support/process-tree';

/**
 * Work that is given up on really stops: sharp runs in child processes, and a child whose work
 * outlives `processingTimeoutMs` is killed. Measured on this process and its children (/proc).
 */

/** Far more scans than any encoder writes, so that the container checks let the slow JPEG through. */
const SCANS_ALLOWED = 5000;

let slowDecode: Buffer; // a JPEG that takes sharp several CPU-seconds to decode
let slowEncode: Buffer; // a PNG that takes sharp several CPU-seconds to encode as AVIF at effort 9
let logo: Buffer;
let logoPath: string;
let folder: string;
let origin: TestOrigin;
const originals: Record<string, () => Buffer> = {
  decode: () => slowDecode,
  encode: () => slowEncode,
};

@Controller()
class WorkController {
  /** `/work/decode/1`, `/work/encode/2`: each key a new miss. */
  @Get('work/:original/:key')
  @ResizedImage({ width: 1024, height: 1024, format: 'avif', fit: 'fill' })
  work(@Param('original') original: string, @Param('key') key: string) {
    return { buffer: originals[original](), cacheKey: `work_${original}_${key}` };
  }

  /** A 4096x4096 AVIF of the gradient. */
  @Get('large/:key')
  @ResizedImage({ width: 4096, height: 4096, format: 'avif', fit: 'fill' })
  large(@Param('key') key: string) {
    return { buffer: slowEncode, cacheKey: `large_${key}` };
  }

  /** An ordinary miss. */
  @Get('quick/:key')
  @ResizedImage({ width: 64, height: 64 })
  quick(@Param('key') key: string) {
    return { buffer: logo, cacheKey: `quick_${key}` };
  }

  @Get('deep/:key')
  @ResizedImage({ width: 64, height: 64 })
  deep(@Param('key') key: string) {
    return { buffer: deep[key], cacheKey: `deep_${key}` };
  }

  @Get('file/:key')
  @ResizedImage({ width: 64, height: 64 })
  file(@Param('key') key: string) {
    return { path: logoPath, cacheKey: `file_${key}` };
  }

  /** `localhost`, so that the fetch needs a DNS lookup (on libuv's thread pool). */
  @Get('url/:key')
  @ResizedImage({ width: 64, height: 64 })
  url(@Param('key') key: string) {
    return { url: `http://localhost:${new URL(origin.url).port}/logo.png`, cacheKey: `url_${key}` };
  }
}
const deep: Record<string, Buffer> = {};

async function startApp(options: ImageResizeModuleOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ImageResizeModule.forRoot({
        maxJpegScans: SCANS_ALLOWED,
        encoders: { avif: { effort: 9 } },
        sources: { allowPrivateNetworks: ['localhost'] },
        ...options,
      }),
    ],
    controllers: [WorkController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer())
    .get(path)
    .then((res) => res);

beforeAll(async () => {
  [slowDecode, slowEncode, logo] = await Promise.all([
    jpegWithRepeatedScans({ size: 6000, repeats: 2000 }),
    slowGradientPng(2000),
    transparentPng(),
  ]);
  folder = mkdtempSync(join(tmpdir(), 'stoppable-work-'));
  logoPath = join(folder, 'logo.png');
  writeFileSync(logoPath, logo);
  origin = await startOrigin({ '/logo.png': { contentType: 'image/png', body: logo } });
});

afterAll(async () => {
  await origin.close();
  rmSync(folder, { recursive: true, force: true });
});

describe('work past processingTimeoutMs', () => {
  let app: INestApplication;
  beforeAll(async () => (app = await startApp({ processingTimeoutMs: 400, concurrency: 2 })));
  afterAll(() => app.close());

  it('answers 503 with Retry-After, and the CPU time of the process and its children stops growing', async () => {
    const [decoding, encoding] = await Promise.all([get(app, '/work/decode/a'), get(app, '/work/encode/a')]);
    for (const res of [decoding, encoding]) {
      expect(res.status).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body.message).toBe('Image processing timed out');
    }
    // Each would go on for several CPU-seconds; killed, they stop within about a second.
    await sleep(1000);
    const settled = treeCpuSeconds();
    await sleep(2000);
    expect(treeCpuSeconds() - settled).toBeLessThan(0.3);
  });
});

describe('a resize slot', () => {
  let app: INestApplication;
  // Long enough for the warm-up to fork its child on a busy machine; the slow decode takes seconds.
  beforeAll(async () => (app = await startApp({ processingTimeoutMs: 1500, concurrency: 1 })));
  afterAll(() => app.close());

  it('stays taken until the child of the work given up on has exited', async () => {
    expect((await get(app, '/quick/warm')).status).toBe(200);
    const [child] = workerPids();
    expect(workerPids()).toEqual([child]);
    // Whether that child is still alive when the next task gets the slot.
    const aliveWhenNextStarted: boolean[] = [];
    const unsubscribe = app.get(ImageResizeMetrics).subscribe((event: ImageResizeEvent) => {
      if (event.type === 'queued') aliveWhenNextStarted.push(isAlive(child));
    });
    try {
      const stuck = get(app, '/work/decode/slot');
      await sleep(100);
      const next = await get(app, '/quick/next');
      expect((await stuck).status).toBe(503);
      expect(next.status).toBe(200);
      expect(aliveWhenNextStarted).toEqual([true, false]);
      expect(workerPids()).not.toContain(child);
    } finally {
      unsubscribe();
    }
  });
});

describe('while stuck work runs', () => {
  it('serves misses of a file source and of a URL source (the thread pool is not starved)', async () => {
    // Four native tasks would take all four threads of libuv's default pool if they ran here.
    const app = await startApp({ processingTimeoutMs: 60_000, concurrency: 6 });
    const stuck = [1, 2, 3, 4].map((n) => get(app, `/work/encode/stuck-${n}`));
    let stuckDone = 0;
    stuck.forEach((res) => void res.then(() => (stuckDone += 1)));
    try {
      await sleep(300);
      const [file, url] = await Promise.all([get(app, '/file/while-stuck'), get(app, '/url/while-stuck')]);
      expect([file.status, url.status]).toEqual([200, 200]);
      expect(stuckDone).toBe(0);
    } finally {
      await app.close();
      await Promise.allSettled(stuck);
    }
  });
});

describe('decoded-bytes budget (maxDecodedBytes, default 160 MB)', () => {
  let app: INestApplication;
  beforeAll(async () => {
    [deep.png, deep.avif] = await Promise.all([deepPng(6300), deepAvif(6300)]);
    app = await startApp({});
  });
  afterAll(() => app.close());

  it.each(['png', 'avif'])(
    'refuses a 6300x6300 %s with more than 8 bits a sample from its header, with 422, without decoding it',
    async (key) => {
      expect((await get(app, `/quick/warm-${key}`)).status).toBe(200);
      const before = sampleTreeRss().stop();
      const rss = sampleTreeRss(10);
      const res = await get(app, `/deep/${key}`);
      const grown = rss.stop() - before;
      expect(res.status).toBe(422);
      expect(res.body.message).toBe('Source image would take 239 MB decoded, more than the limit of 160 MB');
      // Decoding it would take 238 MB and more.
      expect(grown).toBeLessThan(100_000_000);
    },
  );
});

describe('memory that large images leave behind', () => {
  it('goes back to the system (a child left holding too much is replaced)', async () => {
    const app = await startApp({ concurrency: 1, encoders: { avif: { effort: 3 } } });
    try {
      expect((await get(app, '/quick/before-large')).status).toBe(200);
      const before = treeRssBytes();
      // A 4096x4096 AVIF peaks at about 750 MB; from the second on, glibc keeps 300 MB and more.
      expect((await get(app, '/large/1')).status).toBe(200);
      expect((await get(app, '/large/2')).status).toBe(200);
      expect((await get(app, '/quick/after-large')).status).toBe(200);
      expect(treeRssBytes() - before).toBeLessThan(150_000_000);
    } finally {
      await app.close();
    }
  });
});

describe('app.close()', () => {
  it('leaves no child process behind', async () => {
    const app = await startApp({ concurrency: 2 });
    await Promise.all([get(app, '/quick/close-1'), get(app, '/quick/close-2')]);
    expect(workerPids().length).toBeGreaterThan(0);
    const stuck = get(app, '/work/encode/close');
    await sleep(200);
    await app.close();
    expect(workerPids()).toEqual([]);
    await stuck.catch(() => undefined);
  });
});
