import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ImageNotFoundError,
  OverloadedError,
  SourceNotAllowedError,
  SourceTooLargeError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors/image-resize.errors';
import { HttpImageFetcher } from './http-image.fetcher';
import { SourceByteBudget } from './source-byte.budget';
import { SourceAddressPolicy } from './source-address.policy';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('HttpImageFetcher', () => {
  const routes = new Map<string, Handler>();
  const closedEarly = new Set<string>();
  let requests = 0;
  let server: Server;
  let base: string;
  // The test origin is on loopback, which the default policy refuses: allowed here for 127.0.0.1 only.
  const source = new HttpImageFetcher(new SourceAddressPolicy({ allowPrivateNetworks: ['127.0.0.1'] }));
  const limits = { maxBytes: 1000, timeoutMs: 2000, maxRedirects: 2 };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      requests += 1;
      res.on('close', () => {
        if (!res.writableFinished) closedEarly.add(path);
      });
      (routes.get(path) ?? ((_q, r) => r.writeHead(404).end()))(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    routes.set('/ok', (_req, res) =>
      res.writeHead(200, { 'Content-Type': 'image/png' }).end(Buffer.alloc(500, 1)),
    );
    routes.set('/gone', (_req, res) => res.writeHead(410).end());
    routes.set('/error', (_req, res) => res.writeHead(500).end('internal details at 10.0.0.5'));
    routes.set('/silent', () => undefined);
    routes.set('/drip', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      const timer = setInterval(() => res.write(Buffer.alloc(1)), 100);
      res.on('close', () => clearInterval(timer));
    });
    routes.set('/chunked-huge', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      let sent = 0;
      const push = () => {
        // 64 MiB: more than socket buffers hold, so the server is still sending when the client stops.
        while (sent < 64 * 1024 * 1024) {
          sent += 65536;
          if (!res.write(Buffer.alloc(65536))) return void res.once('drain', push);
        }
        res.end();
      };
      push();
    });
    routes.set('/lying-length', (_req, res) =>
      res.writeHead(200, { 'Content-Length': '5000000', 'Content-Type': 'image/png' }).end(),
    );
    routes.set('/loop', (_req, res) => res.writeHead(302, { Location: '/loop' }).end());
    routes.set('/redirect-once', (_req, res) => res.writeHead(301, { Location: '/ok' }).end());
    // Headers at once, the body never: what a client reads of it, it reads from a stalled origin.
    routes.set('/held', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': '800' });
      res.flushHeaders();
    });
    routes.set('/chunked-600', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.write(Buffer.alloc(300, 1));
      setTimeout(() => res.end(Buffer.alloc(300, 2)), 20);
    });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const failure = (url: string, overrides = {}) =>
    source.fetch(url, { ...limits, ...overrides }).then(
      () => {
        throw new Error('expected a failure');
      },
      (error: Error) => error,
    );

  it('returns the bytes, following a redirect', async () => {
    const loaded = await source.fetch(`${base}/ok`, limits);
    expect(loaded.body.length).toBe(500);
    expect((await source.fetch(`${base}/redirect-once`, limits)).body.length).toBe(500);
  });

  it.each([
    ['/missing', ImageNotFoundError, 404],
    ['/gone', ImageNotFoundError, 404],
    ['/error', UpstreamError, 502],
    ['/loop', UpstreamError, 502],
  ])('maps %s to %p (%d)', async (path, type, status) => {
    const error = await failure(`${base}${path}`);
    expect(error).toBeInstanceOf(type);
    expect((error as UpstreamError).getStatus()).toBe(status);
    expect(error.message).not.toMatch(/127\.0\.0\.1|10\.0\.0\.5|:\d{2,5}/);
  });

  it('maps a refused connection to 502', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(`http://127.0.0.1:${port}/x`);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).not.toContain(String(port));
  });

  // What the logs may say of a failed fetch: its kind and code, never an address or a port.
  describe('logCause', () => {
    const noAddress = (text: string | undefined, port?: number) => {
      expect(text).toBeDefined();
      expect(text).not.toMatch(/127\.0\.0\.1|::1|\d+\.\d+\.\d+\.\d+/);
      if (port !== undefined) expect(text).not.toContain(String(port));
    };

    it('names a refused connection', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise((resolve) => closed.close(resolve));
      const error = (await failure(`http://127.0.0.1:${port}/x`)) as UpstreamError;
      expect(error.logCause).toBe('connection refused (ECONNREFUSED)');
      noAddress(error.logCause, port);
    });

    it('names a DNS failure', async () => {
      // No resolver is asked: the lookup fails the way getaddrinfo does for an unknown name.
      class NoSuchHost extends SourceAddressPolicy {
        override readonly lookup = (
          hostname: string,
          _options: unknown,
          callback: (error: NodeJS.ErrnoException | null, address: string, family?: number) => void,
        ) =>
          callback(
            Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
              code: 'ENOTFOUND',
              hostname,
            }),
            '',
          );
      }
      const dns = new HttpImageFetcher(new NoSuchHost({ allowPrivateNetworks: false }));
      const error = await dns.fetch('http://no-such-host.invalid/logo.png', limits).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).getStatus()).toBe(502);
      expect((error as UpstreamError).logCause).toBe('DNS: no such host (ENOTFOUND)');
    });

    it('names a timeout, with the limit', async () => {
      const error = (await failure(`${base}/silent`, { timeoutMs: 300 })) as UpstreamTimeoutError;
      expect(error.logCause).toBe('no complete response within 300 ms (fetchTimeoutMs)');
    });

    it('names a TLS failure: https to a plain http server', async () => {
      const port = new URL(base).port;
      const error = (await failure(`${base.replace('http:', 'https:')}/ok`)) as UpstreamError;
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error.logCause).toMatch(/^TLS handshake failed: wrong version number \(EPROTO\)$/);
      noAddress(error.logCause, Number(port));
    });

    it('keeps the refused host name on a refusal, but never an address', async () => {
      const strict = new HttpImageFetcher(
        new SourceAddressPolicy({
          allowedHosts: ['cdn.example.com', 'localhost'],
          allowPrivateNetworks: false,
        }),
      );
      const hostOf = async (url: string) => {
        const error = await strict.fetch(url, limits).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SourceNotAllowedError);
        return (error as SourceNotAllowedError).refusedHost;
      };
      expect(await hostOf('https://evil.example.net/logo.png')).toBe('evil.example.net');
      // localhost resolves to loopback (from the hosts file), which the policy refuses at lookup.
      expect(await hostOf(`${base.replace('127.0.0.1', 'localhost')}/ok`)).toBe('localhost');
      const open = new HttpImageFetcher(new SourceAddressPolicy({ allowPrivateNetworks: false }));
      const literal = await open.fetch(`${base}/ok`, limits).catch((e: unknown) => e);
      expect(literal).toBeInstanceOf(SourceNotAllowedError);
      expect((literal as SourceNotAllowedError).refusedHost).toBeUndefined();
    });
  });

  it('gives up with 504 on an origin that never answers, or drips slower than the limit', async () => {
    expect(await failure(`${base}/silent`, { timeoutMs: 300 })).toBeInstanceOf(UpstreamTimeoutError);
    expect(await failure(`${base}/drip`, { timeoutMs: 500 })).toBeInstanceOf(UpstreamTimeoutError);
  });

  it('aborts a body over the byte limit without Content-Length, and refuses a large Content-Length', async () => {
    const error = await failure(`${base}/chunked-huge`);
    expect(error).toBeInstanceOf(SourceTooLargeError);
    expect((error as SourceTooLargeError).getStatus()).toBe(422);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closedEarly.has('/chunked-huge')).toBe(true);
    expect(await failure(`${base}/lying-length`)).toBeInstanceOf(SourceTooLargeError);
  });

  it('refuses loopback with the default policy, before any request is made', async () => {
    const before = requests;
    const strict = new HttpImageFetcher();
    const error = await strict.fetch(`${base}/ok`, limits).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceNotAllowedError);
    expect((error as Error).message).not.toMatch(/127\.0\.0\.1/);
    expect(requests).toBe(before);
  });

  it.each(['file:///etc/passwd', 'ftp://example.com/logo.png', 'data:image/png;base64,AAAA', 'not a url'])(
    'refuses %s with 403',
    async (url) => {
      const error = await failure(url);
      expect(error).toBeInstanceOf(SourceNotAllowedError);
      expect((error as SourceNotAllowedError).getStatus()).toBe(403);
    },
  );

  describe('admission budget', () => {
    /** A budget of 1000 bytes, `taken` of them held by other sources. */
    const budgetWith = (taken: number) => {
      const budget = new SourceByteBudget(1000);
      budget.open().ensure(taken);
      return budget;
    };

    it('reserves the Content-Length before reading the body: a source that does not fit gets 503, its body unread', async () => {
      const budget = budgetWith(300);
      const reservation = budget.open();
      const error = await failure(`${base}/held`, { reservation });
      expect(error).toBeInstanceOf(OverloadedError);
      expect((error as OverloadedError).getStatus()).toBe(503);
      expect((error as OverloadedError).retryAfterSeconds).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closedEarly.has('/held')).toBe(true);
      expect([reservation.bytes, budget.inFlight]).toEqual([0, 300]);
    });

    it('holds exactly the body of a source that fits', async () => {
      const budget = budgetWith(300);
      const reservation = budget.open();
      const loaded = await source.fetch(`${base}/ok`, { ...limits, reservation });
      expect(loaded.body.length).toBe(500);
      expect([reservation.bytes, budget.inFlight]).toEqual([500, 800]);
    });

    it('grows the reservation as a body without Content-Length arrives, and stops it when it no longer fits', async () => {
      const roomy = budgetWith(0).open();
      expect((await source.fetch(`${base}/chunked-600`, { ...limits, reservation: roomy })).body.length).toBe(
        600,
      );
      expect(roomy.bytes).toBe(600);
      const budget = budgetWith(500);
      const reservation = budget.open();
      expect(await failure(`${base}/chunked-600`, { reservation })).toBeInstanceOf(OverloadedError);
      expect(budget.inFlight).toBe(500 + reservation.bytes);
      expect(reservation.bytes).toBeLessThanOrEqual(500);
    });

    it("stops at the caller's signal, with its reason", async () => {
      const controller = new AbortController();
      const reason = new UpstreamTimeoutError(undefined, { logCause: 'the caller gave up' });
      setTimeout(() => controller.abort(reason), 100);
      expect(await failure(`${base}/held`, { signal: controller.signal })).toBe(reason);
    });
  });
});
