import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, type ImageSource, ResizedImage } from 'nestjs-image-resize';
import sharp from 'sharp';
import {
  jpegWithRepeatedScans,
  pngWithTextBomb,
  svgEmbeddingRaster,
  svgUseBomb,
} from './support/bombs/containers';
import { deepAvif, deepPng, slowGradientPng } from './support/bombs/processing';
import { type Fifo, makeFifo, neverEndingStream, noisePng, slowBigOrigin } from './support/bombs/sources';
import { sampleTreeRss, treeCpuSeconds, treeRssBytes } from './support/process-tree';

// The service under attack: every class of hostile original at once, mixed with ordinary misses.
// Bounds are generous (this machine has two cores); what is checked is that the limits fire, that
// ordinary misses keep being served, that memory stays bounded and that the CPU goes idle after.

/** Peak RSS of the test process and its image workers may grow by at most this much. */
const RSS_GROWTH_BOUND = 1024 * 1024 * 1024;
/** CPU-seconds the process tree may spend in the 2 s after the last answer (idle is about 0.05). */
const IDLE_CPU_BOUND = 0.5;

interface Bomb {
  /** What each request of this class must be answered with. */
  status: number;
  source: () => ImageSource;
}

const bombs = new Map<string, Bomb>();
const ordinary: { logo?: Buffer } = {};
let fifo: Fifo;
let dir: string;
let origin: Server;
let originUrl: string;
const big = { origin: undefined as ReturnType<typeof slowBigOrigin> | undefined };

@Controller()
class AttackController {
  @Get('bomb/:name/:n')
  @ResizedImage({ width: 128, height: 128, format: 'png' })
  bomb(@Param('name') name: string, @Param('n') n: string) {
    return this.source(name, n);
  }

  /** Work that outlives processingTimeoutMs: a 2048 px AVIF at effort 9 (the module's setting). */
  @Get('slow/:name/:n')
  @ResizedImage({ width: 2048, height: 2048, format: 'avif', fit: 'fill' })
  slow(@Param('name') name: string, @Param('n') n: string) {
    return this.source(name, n);
  }

  private source(name: string, n: string): ImageSource | undefined {
    const source = bombs.get(name)?.source();
    return source && ({ ...(source as object), cacheKey: `attack_${name}_${n}` } as ImageSource);
  }

  @Get('ordinary/:n')
  @ResizedImage({ width: 128, height: 128, format: 'png' })
  ordinary(@Param('n') n: string) {
    return { url: `${originUrl}/logo.png?n=${n}`, cacheKey: `attack_ordinary_${n}` };
  }
}

async function fill(): Promise<void> {
  const [jpeg, ztxt, deep, avif, svgRaster, slow] = await Promise.all([
    jpegWithRepeatedScans({ size: 6000, repeats: 1000 }),
    pngWithTextBomb(),
    deepPng(),
    deepAvif(),
    svgEmbeddingRaster(100),
    slowGradientPng(2000),
  ]);
  const buffer = (body: Buffer) => () => ({ buffer: body });
  bombs.set('jpeg-scans', { status: 422, source: buffer(jpeg) });
  // Its text chunks are stripped: what is left is an ordinary 1x1 PNG.
  bombs.set('png-ztxt', { status: 200, source: buffer(ztxt) });
  bombs.set('png-16bit', { status: 422, source: buffer(deep) });
  bombs.set('avif-10bit', { status: 422, source: buffer(avif) });
  bombs.set('svg-raster', { status: 422, source: buffer(svgRaster) });
  bombs.set('svg-use', { status: 422, source: buffer(svgUseBomb()) });
  bombs.set('slow-decode', { status: 503, source: buffer(slow) });
  bombs.set('endless-stream', { status: 504, source: () => ({ stream: neverEndingStream() }) });
  bombs.set('fifo', { status: 404, source: () => ({ path: fifo.path }) });
  bombs.set('big-slow', { status: 503, source: () => ({ url: `${originUrl}/big.png` }) });
}

describe('the service under attack', () => {
  let app: INestApplication;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'under-attack-'));
    fifo = makeFifo(dir);
    ordinary.logo = await sharp({ create: { width: 600, height: 300, channels: 4, background: '#1d4ed8' } })
      .png()
      .toBuffer();
    big.origin = slowBigOrigin(await noisePng(4 * 1024 * 1024));
    origin = createServer((req, res) => {
      if (req.url?.startsWith('/big.png')) return big.origin!.handler(req, res);
      res.writeHead(200, { 'Content-Type': 'image/png' }).end(ordinary.logo);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    await fill();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ImageResizeModule.forRoot({
          allowSvg: true,
          processingTimeoutMs: 2000,
          fetchTimeoutMs: 3000,
          maxSourceBytesInFlight: 32 * 1024 * 1024,
          sources: { allowPrivateNetworks: ['127.0.0.1'] },
          // Only the slow route encodes AVIF; at effort 9 a 2048 px one takes many CPU-seconds.
          encoders: { avif: { effort: 9 } },
        }),
      ],
      controllers: [AttackController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await app.listen(0, '127.0.0.1');
  }, 120_000);

  afterAll(async () => {
    big.origin?.close();
    await app?.close();
    await new Promise((resolve) => origin?.close(resolve));
    fifo?.unblock();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every bomb within its limits, keeps serving ordinary misses, stays within its memory bound and goes idle', async () => {
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const status = async (path: string) => {
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      return res.status;
    };
    const rssBefore = treeRssBytes();
    const sampler = sampleTreeRss(20);

    // Two of each bomb, all at once; the 4 MiB bodies twenty times, more than the budget holds.
    const attacks: Array<Promise<[string, number]>> = [];
    for (const [name] of bombs) {
      const copies = name === 'big-slow' ? 20 : 2;
      for (let n = 0; n < copies; n++) {
        const route = name === 'slow-decode' ? 'slow' : 'bomb';
        attacks.push(status(`/${route}/${name}/${n}`).then((code) => [name, code]));
      }
    }
    // The slow origin sends its headers at once (the budget admits or refuses on Content-Length) and
    // its bodies a second later, well within fetchTimeoutMs however loaded the machine is.
    const release = setTimeout(() => big.origin!.release(), 1000);
    // Meanwhile, ordinary misses one after another.
    const served: number[] = [];
    for (let n = 0; n < 20; n++) served.push(await status(`/ordinary/${n}`));
    clearTimeout(release);
    big.origin!.release();
    const answers = await Promise.all(attacks);
    const peak = sampler.stop();

    if (process.env.ATTACK_REPORT) {
      const byClass = new Map<string, number[]>();
      for (const [name, code] of answers) byClass.set(name, [...(byClass.get(name) ?? []), code]);
      console.log(
        `peak RSS growth ${((peak - rssBefore) / 2 ** 20).toFixed(0)} MiB; answers ${JSON.stringify(Object.fromEntries(byClass))}`,
      );
    }
    const wrong = answers.filter(([name, code]) =>
      name === 'big-slow' ? code !== 503 && code !== 200 : code !== bombs.get(name)!.status,
    );
    expect(wrong).toEqual([]);
    // The budget turned most of the big bodies away before reading them.
    expect(answers.filter(([name, code]) => name === 'big-slow' && code === 503).length).toBeGreaterThan(10);
    expect(served).toEqual(Array(20).fill(200));
    expect(peak - rssBefore).toBeLessThan(RSS_GROWTH_BOUND);

    // Work given up on has stopped: the tree's CPU time barely grows once everything is answered.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cpuBefore = treeCpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(treeCpuSeconds() - cpuBefore).toBeLessThan(IDLE_CPU_BOUND);
  }, 180_000);
});
