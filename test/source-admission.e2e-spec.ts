import { mkdir, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import { noisePng, slowBigOrigin, type SlowBigOrigin } from './support/bombs/sources';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { LOOPBACK_ORIGIN } from './support/test-app';

const MISSES = 150;
const SOURCE_BYTES = 4 * 1024 * 1024;
const BUDGET = 64 * 1024 * 1024; // the default maxSourceBytesInFlight
/** Generous: 16 admitted sources of 4 MiB, their resizes, and the 134 refusals' sockets. */
const RSS_BOUND = 400 * 1024 * 1024;

let originUrl = '';

@Controller()
class BigController {
  @Get('big/:n')
  @ResizedImage({ width: 64, height: 64 })
  big(@Param('n') n: string) {
    return { url: `${originUrl}/big/${n}.png`, cacheKey: `big_${n}` };
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Whether it came back before the origin let any body go. */
  beforeRelease: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, maxMs: number): Promise<void> {
  for (const end = Date.now() + maxMs; !condition() && Date.now() < end;) await sleep(20);
}

describe('admission of source bytes (maxSourceBytesInFlight, default options)', () => {
  let app: INestApplication;
  let origin: TestOrigin;
  let slow: SlowBigOrigin;
  let port: number;

  beforeAll(async () => {
    const body = await noisePng(SOURCE_BYTES);
    slow = slowBigOrigin(body);
    origin = await startOrigin();
    originUrl = origin.url;
    for (let n = 0; n <= MISSES; n++) origin.routes.set(`/big/${n}.png`, slow.handler);
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN })],
      controllers: [BigController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    slow.close();
    await app.close();
    await origin.close();
  });

  const fetchStatus = (path: string, released: () => boolean) =>
    new Promise<Answer>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        const beforeRelease = !released();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, beforeRelease }));
      }).on('error', reject);
    });

  it(`refuses the misses past the budget with 503 before their bodies are read, and bounds RSS (${MISSES} misses of 4 MiB)`, async () => {
    let released = false;
    // Warm up (one miss served) so that the baseline holds what any request needs.
    slow.release();
    expect((await fetchStatus(`/big/${MISSES}`, () => true)).status).toBe(200);
    const service = app.get(ImageResizeService);
    const warm = { requests: slow.requests(), written: slow.bodyBytesWritten(), completed: slow.completed() };
    const held = slowBigOrigin(await noisePng(SOURCE_BYTES));
    for (let n = 0; n < MISSES; n++) origin.routes.set(`/big/${n}.png`, held.handler);

    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 20);
    const started = Date.now();
    try {
      let answered = 0;
      const answers = Array.from({ length: MISSES }, (_, n) =>
        fetchStatus(`/big/${n}`, () => released).then((answer) => {
          answered += 1;
          return answer;
        }),
      );
      // Bodies stay held until every request reached the origin and the refusals had time to come back.
      await until(() => held.requests() === MISSES, 20_000);
      const admissible = Math.floor(BUDGET / SOURCE_BYTES);
      await until(() => answered >= MISSES - admissible, 5_000);
      released = true;
      held.release();
      const results = await Promise.all(answers);
      const wallMs = Date.now() - started;
      // CPU of the process in the second after the last answer: idle, not still working.
      const cpuAtAnswer = process.cpuUsage();
      await sleep(1000);
      const cpuAfter = process.cpuUsage(cpuAtAnswer);
      peak = Math.max(peak, process.memoryUsage.rss());

      const refused = results.filter((answer) => answer.status === 503);
      const served = results.filter((answer) => answer.status === 200);
      const report = {
        misses: MISSES,
        sourceBytes: SOURCE_BYTES,
        served: served.length,
        refused: refused.length,
        refusedBeforeRelease: refused.filter((answer) => answer.beforeRelease).length,
        bodiesSentInFull: held.completed(),
        bodyBytesWritten: held.bodyBytesWritten(),
        wallMs,
        cpuSecondsAfter: (cpuAfter.user + cpuAfter.system) / 1e6,
        baselineRssMB: Math.round(baseline / 2 ** 20),
        peakRssMB: Math.round(peak / 2 ** 20),
        peakGrowthMB: Math.round((peak - baseline) / 2 ** 20),
      };
      await mkdir('test-output', { recursive: true });
      await writeFile(join('test-output', 'source-admission.json'), `${JSON.stringify(report, null, 2)}\n`);

      expect(served.length + refused.length).toBe(MISSES);
      expect(served.length).toBeGreaterThanOrEqual(1);
      expect(served.length).toBeLessThanOrEqual(admissible);
      for (const answer of refused) {
        expect(answer.beforeRelease).toBe(true);
        expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
      }
      // Only the admitted ones got their bodies; the refused were never sent in full.
      expect(held.completed()).toBe(served.length);
      expect(held.bodyBytesWritten()).toBeLessThanOrEqual(served.length * SOURCE_BYTES);
      expect(peak - baseline).toBeLessThan(RSS_BOUND);
      expect((await service.health()).sourceBytesInFlight).toBe(0);
      expect([slow.requests(), slow.completed()]).toEqual([warm.requests, warm.completed]);
    } finally {
      clearInterval(sampler);
      held.release();
      held.close();
    }
  });
});
