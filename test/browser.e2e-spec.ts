import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { NextFunction, Request, Response } from 'express';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import type { ImagePlaceholder } from 'nestjs-image-resize';
import { AppModule } from '../src/app.module';
import { until } from './support/until';

/** What the test reads of an `<img>` element (the tests compile without the DOM's types). */
interface ImageLike {
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { x: number; y: number; width: number; height: number };
  complete: boolean;
  currentSrc: string;
  naturalWidth: number;
  naturalHeight: number;
}

/** A `layout-shift` performance entry. */
interface LayoutShift {
  value: number;
  hadRecentInput: boolean;
}

/** What an in-page script reads of the window. */
interface WindowLike {
  getComputedStyle(element: ImageLike): { backgroundImage: string };
  requestAnimationFrame(callback: () => void): number;
  /** The browser's, which observes layout shifts (Node's does not know them). */
  PerformanceObserver: new (callback: (list: { getEntries(): LayoutShift[] }) => void) => {
    observe(options: { type: 'layout-shift'; buffered: boolean }): void;
  };
  /** The cumulative layout shift, summed by the script that {@link measureLayoutShift} installs. */
  layoutShift: number;
}

/** An image the page loads to decode a placeholder before the screenshot. */
interface ImageProbe {
  src: string;
  decode(): Promise<void>;
}

/** What the test reads of a logo on the page. */
interface Logo {
  alt: string | null;
  src: string | null;
  srcset: string | null;
  /** The `width` and `height` attributes. */
  width: number;
  height: number;
  /** The box the browser lays the `<img>` out in, in CSS pixels. */
  box: { x: number; y: number; width: number; height: number };
  complete: boolean;
  currentSrc: string;
  naturalWidth: number;
  naturalHeight: number;
  backgroundImage: string;
}

/** Where the screenshots go (ignored by git). */
const OUTPUT_DIR = join(__dirname, '..', 'test-output');

/** The logos of the example, as the page shows them (128 CSS px, never enlarged). */
const LOGOS = [
  { slug: 'aurora', width: 128, height: 128, twoX: true },
  { slug: 'basalt', width: 128, height: 80, twoX: true },
  { slug: 'cobalt', width: 96, height: 96, twoX: false },
];

/** A request for a logo image of the page's route (not its `?placeholder` JSON). */
const isLogoImage = (req: Request) =>
  /^\/assets\/[^/]+\/logo$/.test(req.path) && !('placeholder' in req.query);

/**
 * Holds the logo image responses while it is closed, as a slow image server would: the page's HTML
 * (whose placeholders the server makes before sending it) and the originals pass.
 */
class Gate {
  private closed = false;
  private readonly held: Array<() => void> = [];

  readonly middleware = (req: Request, _res: Response, next: NextFunction): void => {
    if (this.closed && isLogoImage(req)) this.held.push(next);
    else next();
  };

  close(): void {
    this.closed = true;
  }

  /** How many logo requests are held. */
  get holding(): number {
    return this.held.length;
  }

  release(): void {
    this.closed = false;
    for (const next of this.held.splice(0)) next();
  }
}

/** Sums the page's layout shifts (without recent input) into `window.layoutShift`, from before it loads. */
async function measureLayoutShift(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const window = globalThis as unknown as WindowLike;
    window.layoutShift = 0;
    new window.PerformanceObserver((list) => {
      for (const shift of list.getEntries()) {
        if (!shift.hadRecentInput) window.layoutShift += shift.value;
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
}

/** The page's logos, as the browser has them now. */
function readLogos(page: Page): Promise<Logo[]> {
  return page.$$eval('.col-logo img', (nodes) =>
    (nodes as unknown as ImageLike[]).map((img) => {
      const { x, y, width, height } = img.getBoundingClientRect();
      return {
        alt: img.getAttribute('alt'),
        src: img.getAttribute('src'),
        srcset: img.getAttribute('srcset'),
        width: Number(img.getAttribute('width')),
        height: Number(img.getAttribute('height')),
        box: { x, y, width, height },
        complete: img.complete,
        currentSrc: img.currentSrc,
        naturalWidth: img.naturalWidth,
        naturalHeight: img.naturalHeight,
        backgroundImage: (globalThis as unknown as WindowLike).getComputedStyle(img).backgroundImage,
      };
    }),
  );
}

/** The candidate of `srcset` for `descriptor` (`2x`), or undefined. */
function candidate(srcset: string | null, descriptor: string): string | undefined {
  return (srcset ?? '')
    .split(',')
    .map((entry) => entry.trim().split(/\s+/))
    .find(([, given]) => given === descriptor)?.[0];
}

/**
 * The pixels of a screenshot inside `box` (CSS pixels; the screenshot has `scale` device pixels to
 * one): the share that is painted (not the page's white), and the share within a small distance of
 * `color`.
 */
async function boxPixels(
  screenshot: Buffer,
  box: Logo['box'],
  scale: number,
  color: string,
): Promise<{ painted: number; nearColor: number }> {
  const { data, info } = await sharp(screenshot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const [r, g, b] = [1, 3, 5].map((at) => parseInt(color.slice(at, at + 2), 16));
  const left = Math.ceil(box.x * scale);
  const top = Math.ceil(box.y * scale);
  const right = Math.floor((box.x + box.width) * scale);
  const bottom = Math.floor((box.y + box.height) * scale);
  let painted = 0;
  let nearColor = 0;
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) {
      const at = (y * info.width + x) * info.channels;
      const [pr, pg, pb] = [data[at], data[at + 1], data[at + 2]];
      if (Math.min(pr, pg, pb) < 245) painted++;
      if (Math.hypot(pr - r, pg - g, pb - b) <= 48) nearColor++;
    }
  }
  const pixels = (right - left) * (bottom - top);
  return { painted: painted / pixels, nearColor: nearColor / pixels };
}

describe('the example page in a real browser (headless Chromium)', () => {
  let app: INestApplication;
  let browser: Browser;
  let base: string;
  const gate = new Gate();
  /** Statuses the server sent for logo image requests, in order. */
  const logoStatuses: number[] = [];

  /** A logo's placeholder, as its route's `?placeholder` serves it. */
  const placeholderOf = async (slug: string): Promise<ImagePlaceholder> =>
    (await (await fetch(`${base}/assets/${slug}/logo?placeholder`)).json()) as ImagePlaceholder;

  beforeAll(async () => {
    delete process.env.REDIS_URL;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (isLogoImage(req)) res.on('finish', () => logoStatuses.push(res.statusCode));
      next();
    });
    app.use(gate.middleware);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
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
    mkdirSync(OUTPUT_DIR, { recursive: true });
  });

  // A test that failed while the logos were held does not hold the next one's.
  afterEach(() => gate.release());

  afterAll(async () => {
    await browser?.close(); // and its contexts
    await app?.close();
  });

  it('answers ?placeholder with the logo placeholder as JSON', async () => {
    const sizes: number[][] = [];
    for (const { slug } of LOGOS) {
      const res = await fetch(`${base}/assets/${slug}/logo?placeholder`);
      expect([slug, res.status, res.headers.get('content-type')]).toEqual([
        slug,
        200,
        expect.stringMatching(/^application\/json\b/),
      ]);
      const placeholder = (await res.json()) as ImagePlaceholder;
      expect(placeholder).toEqual({
        dataUrl: expect.stringMatching(/^data:image\/webp;base64,/),
        color: expect.stringMatching(/^#[0-9a-f]{6}$/),
        width: expect.any(Number),
        height: expect.any(Number),
        bytes: placeholder.dataUrl.length,
      });
      sizes.push([placeholder.width, placeholder.height]);
    }
    // The originals' own sizes.
    expect(sizes).toEqual([
      [1200, 1200],
      [800, 500],
      [96, 96],
    ]);
  });

  it('shows every logo within its 128 px box, a placeholder for the asset without one, and caches the logos', async () => {
    logoStatuses.length = 0;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`, { waitUntil: 'load' });

    const logos = await readLogos(page);
    expect(logos.map(({ alt, src, width, height }) => [alt, src, width, height])).toEqual([
      ['Aurora logo', '/assets/aurora/logo?w=128', 128, 128],
      ['Basalt logo', '/assets/basalt/logo?w=128', 128, 80],
      ['Cobalt logo', '/assets/cobalt/logo?w=128', 96, 96],
    ]);
    for (const logo of logos) {
      expect(logo.complete).toBe(true);
      expect(logo.naturalWidth).toBeGreaterThan(0);
      expect(logo.naturalWidth).toBeLessThanOrEqual(128);
      expect(logo.naturalHeight).toBeLessThanOrEqual(128);
      // At 1x, the 1x image.
      expect(logo.currentSrc).toBe(`${base}${logo.src}`);
    }
    const noLogo = page.locator('.placeholder[aria-label="Dune has no logo"]');
    expect(await noLogo.isVisible()).toBe(true);
    expect(await noLogo.boundingBox()).toMatchObject({ width: 128, height: 128 });
    expect(await page.locator('img:not(.col-logo img)').count()).toBe(0);
    expect(logoStatuses).toEqual([200, 200, 200]);

    // A second visit: the logos come from the browser's cache, or are revalidated with 304s.
    logoStatuses.length = 0;
    await page.goto(`${base}/`, { waitUntil: 'load' });
    const reloaded = await readLogos(page);
    expect(reloaded.every((logo) => logo.complete && logo.naturalWidth > 0)).toBe(true);
    // Complete before the page's script ran: their placeholders are gone too.
    expect(reloaded.map((logo) => logo.backgroundImage)).toEqual(['none', 'none', 'none']);
    expect(logoStatuses.every((status) => status === 304)).toBe(true);
    await context.close();
  });

  it.each([1, 2])(
    'at device scale factor %d, paints each placeholder in its box until the logo arrives, in the same box',
    async (scale) => {
      const context = await browser.newContext({
        deviceScaleFactor: scale,
        viewport: { width: 1024, height: 800 },
      });
      await measureLayoutShift(context);
      const page = await context.newPage();

      // The logos are held: the page shows their placeholders.
      gate.close();
      await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
      await until('the browser asks for the three logos', () => gate.holding >= LOGOS.length, 10_000);
      // The placeholders are decoded before the screenshot (data: URLs too are decoded asynchronously).
      await page.$$eval('.col-logo img', (nodes) =>
        Promise.all(
          (nodes as unknown as ImageLike[]).map((img) => {
            const window = globalThis as unknown as WindowLike;
            const url = /^url\("(.*)"\)$/.exec(window.getComputedStyle(img).backgroundImage)?.[1];
            if (url === undefined) return undefined;
            const probe = new (globalThis as unknown as { Image: new () => ImageProbe }).Image();
            probe.src = url;
            return probe.decode();
          }),
        ),
      );
      const held = await readLogos(page);
      const heldShot = await page.screenshot({ path: join(OUTPUT_DIR, `example-page-${scale}x-held.png`) });
      expect(held.map((logo) => [logo.complete, logo.naturalWidth])).toEqual([
        [false, 0],
        [false, 0],
        [false, 0],
      ]);
      for (const [at, { slug, width, height }] of LOGOS.entries()) {
        const logo = held[at];
        const placeholder = await placeholderOf(slug);
        // The box is reserved, and its background is this logo's placeholder.
        expect([slug, logo.box.width, logo.box.height]).toEqual([slug, width, height]);
        expect(logo.backgroundImage).toContain(placeholder.dataUrl.slice('data:image/webp;base64,'.length));
        // ... and painted: most of the box, much of it in the placeholder's colour.
        const pixels = await boxPixels(heldShot, logo.box, scale, placeholder.color);
        expect([slug, pixels.painted > 0.5, pixels.nearColor > 0.15]).toEqual([slug, true, true]);
      }

      // Then the logos arrive, each in the box reserved for it.
      gate.release();
      await page.waitForLoadState('load', { timeout: 10_000 });
      const loaded = await readLogos(page);
      await page.screenshot({ path: join(OUTPUT_DIR, `example-page-${scale}x-loaded.png`) });
      for (const [at, { slug, width, height, twoX }] of LOGOS.entries()) {
        const logo = loaded[at];
        expect([slug, logo.complete, logo.naturalWidth > 0, logo.naturalHeight > 0]).toEqual([
          slug,
          true,
          true,
          true,
        ]);
        expect([slug, logo.box]).toEqual([slug, held[at].box]);
        expect([slug, logo.box.width, logo.box.height]).toEqual([slug, width, height]);
        // The placeholder is gone: it would show through the transparent parts of the logo.
        expect([slug, logo.backgroundImage]).toEqual([slug, 'none']);
        // The image for the screen's density: the 2x candidate where the original has the pixels.
        const wanted = scale === 2 && twoX ? candidate(logo.srcset, '2x') : logo.src;
        expect(wanted).toBeDefined();
        expect([slug, logo.currentSrc]).toEqual([slug, `${base}${wanted}`]);
      }
      expect(candidate(loaded[2].srcset, '2x')).toBeUndefined(); // cobalt is 96 px: no 2x

      // Nothing moved on the page while it loaded. (The logo cells have a fixed height: a logo without
      // width and height would not move the rows either, which the boxes checked above catch.)
      await page.evaluate(
        () =>
          new Promise((resolve) =>
            (globalThis as unknown as WindowLike).requestAnimationFrame(() => setTimeout(resolve)),
          ),
      );
      const shift = await page.evaluate(() => (globalThis as unknown as WindowLike).layoutShift);
      expect(shift).toBe(0);
      await context.close();
    },
  );
});
