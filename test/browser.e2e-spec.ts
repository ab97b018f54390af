import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { NextFunction, Request, Response } from 'express';
import { type Browser, chromium } from 'playwright-core';
import { AppModule } from '../src/app.module';

/** What the test reads of an `<img>` element (the tests compile without the DOM's types). */
interface ImageLike {
  getAttribute(name: string): string | null;
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
}

/** Where the screenshot goes (ignored by git). */
const OUTPUT_DIR = join(__dirname, '..', 'test-output');

describe('the example page in a real browser (headless Chromium)', () => {
  let app: INestApplication;
  let browser: Browser;
  let base: string;
  /** Statuses the server sent for logo requests, in order. */
  const logoStatuses: number[] = [];

  beforeAll(async () => {
    delete process.env.REDIS_URL;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (/\/logo_small\.png$/.test(req.path)) res.on('finish', () => logoStatuses.push(res.statusCode));
      next();
    });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('shows every logo within 256 px, a placeholder for the asset without one, and caches the logos', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`, { waitUntil: 'load' });

    const images = await page.$$eval('.col-logo img', (nodes) =>
      (nodes as unknown as ImageLike[]).map((img) => ({
        src: img.getAttribute('src'),
        complete: img.complete,
        width: img.naturalWidth,
        height: img.naturalHeight,
      })),
    );
    expect(images.map((img) => img.src)).toEqual([
      '/assets/aurora/logo_small.png',
      '/assets/basalt/logo_small.png',
      '/assets/cobalt/logo_small.png',
    ]);
    for (const img of images) {
      expect(img.complete).toBe(true);
      expect(img.width).toBeGreaterThan(0);
      expect(img.width).toBeLessThanOrEqual(256);
      expect(img.height).toBeLessThanOrEqual(256);
    }
    const placeholder = page.locator('.placeholder[aria-label="Dune has no logo"]');
    expect(await placeholder.isVisible()).toBe(true);
    expect(await page.locator('img:not(.col-logo img)').count()).toBe(0);

    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: join(OUTPUT_DIR, 'example-page.png'), fullPage: true });

    expect(logoStatuses).toEqual([200, 200, 200]);
    // A second visit: the logos come from the browser's cache, or are revalidated with 304s.
    logoStatuses.length = 0;
    await page.goto(`${base}/`, { waitUntil: 'load' });
    const reloaded = await page.$$eval('.col-logo img', (nodes) =>
      (nodes as unknown as ImageLike[]).every((img) => img.complete && img.naturalWidth > 0),
    );
    expect(reloaded).toBe(true);
    expect(logoStatuses.every((status) => status === 304)).toBe(true);
    await context.close();
  });
});
