import { utimes, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceNotAllowedError, SourceTooLargeError, UpstreamError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import { ConditionalSourceLoader } from './conditional-source.loader';
import { DefaultImageSourceLoader } from './default-image-source.loader';
import { FileImageReader } from './file-image.reader';
import { cacheControlMaxAge, HttpImageFetcher, responseValidators } from './http-image.fetcher';
import type { ImageSourceDescriptor, LoadedSource } from './image-source.interface';
import type { ImageSourceLoader, SourceLoadContext } from './image-source-loader.interface';
import { SourceAddressPolicy } from './source-address.policy';

const ETAG = '"abc"';
const LAST_MODIFIED = 'Mon, 01 Jan 2024 00:00:00 GMT';

describe('conditional loads', () => {
  let server: Server;
  let base: string;
  const seen: Array<IncomingMessage['headers']> = [];
  const fetcher = new HttpImageFetcher(new SourceAddressPolicy({ allowPrivateNetworks: ['127.0.0.1'] }));
  const limits = { maxBytes: 1000, timeoutMs: 2000, maxRedirects: 2 };

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.headers);
      const headers = { ETag: ETAG, 'Last-Modified': LAST_MODIFIED, 'Cache-Control': 'public, max-age=600' };
      if (req.url === '/always-304') return void res.writeHead(304, headers).end();
      if (req.url === '/big' && req.headers['if-none-match'] !== ETAG) {
        return void res.writeHead(200, { ...headers, 'Content-Length': 5000 }).end(Buffer.alloc(5000));
      }
      if (req.headers['if-none-match'] === ETAG) return void res.writeHead(304, headers).end();
      res.writeHead(200, { ...headers, 'Content-Type': 'image/png' }).end(Buffer.alloc(100, 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => (seen.length = 0));

  describe('HttpImageFetcher', () => {
    it("returns the response's validators with the bytes", async () => {
      const loaded = await fetcher.fetch(`${base}/logo`, limits);
      expect(loaded.body.length).toBe(100);
      expect(loaded.notModified).toBeUndefined();
      expect(loaded.validators).toEqual({ etag: ETAG, lastModified: LAST_MODIFIED, maxAge: 600 });
      expect(seen[0]['if-none-match']).toBeUndefined();
      expect(seen[0]['if-modified-since']).toBeUndefined();
    });

    it('sends If-None-Match and If-Modified-Since, and answers a 304 with notModified', async () => {
      const loaded = await fetcher.fetch(`${base}/logo`, {
        ...limits,
        validators: { etag: ETAG, lastModified: LAST_MODIFIED },
      });
      expect(loaded).toEqual({
        body: Buffer.alloc(0),
        notModified: true,
        validators: { etag: ETAG, lastModified: LAST_MODIFIED, maxAge: 600 },
      });
      expect(seen[0]).toMatchObject({ 'if-none-match': ETAG, 'if-modified-since': LAST_MODIFIED });
    });

    it('returns the new bytes when the validators no longer match', async () => {
      const loaded = await fetcher.fetch(`${base}/logo`, { ...limits, validators: { etag: '"old"' } });
      expect(loaded.notModified).toBeUndefined();
      expect(loaded.body.length).toBe(100);
    });

    it('refuses a 304 to a request that was not conditional', async () => {
      await expect(fetcher.fetch(`${base}/always-304`, limits)).rejects.toThrow(UpstreamError);
      await expect(
        fetcher.fetch(`${base}/always-304`, { ...limits, validators: { maxAge: 5 } }),
      ).rejects.toThrow(UpstreamError);
    });

    it('keeps the limits of every fetch: the address policy and the byte limit', async () => {
      const publicOnly = new HttpImageFetcher();
      await expect(
        publicOnly.fetch(`${base}/logo`, { ...limits, validators: { etag: ETAG } }),
      ).rejects.toThrow(SourceNotAllowedError);
      await expect(
        fetcher.fetch(`${base}/big`, { ...limits, validators: { etag: '"old"' } }),
      ).rejects.toThrow(SourceTooLargeError);
      expect(seen).toHaveLength(1); // the refused address was never connected to
    });

    it('reads the max-age of a Cache-Control, 0 for no-cache and no-store', () => {
      expect(cacheControlMaxAge(undefined)).toBeUndefined();
      expect(cacheControlMaxAge('public')).toBeUndefined();
      expect(cacheControlMaxAge('public, max-age=31536000, immutable')).toBe(31_536_000);
      expect(cacheControlMaxAge('MAX-AGE="60"')).toBe(60);
      expect(cacheControlMaxAge('max-age=-1')).toBeUndefined();
      expect(cacheControlMaxAge('max-age=600, no-cache')).toBe(0);
      expect(cacheControlMaxAge('no-store')).toBe(0);
    });

    it('keeps only validators it can send back', () => {
      expect(responseValidators({ etag: 'W/"x"', 'last-modified': 'not a date' })).toEqual({ etag: 'W/"x"' });
      expect(responseValidators({ etag: `"${'x'.repeat(300)}"` })).toEqual({});
      expect(responseValidators({ etag: '"a\u0000b"' })).toEqual({});
    });
  });

  describe('FileImageReader and the default loader', () => {
    let dir: string;
    let path: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'conditional-'));
      path = join(dir, 'logo.png');
      await writeFile(path, Buffer.alloc(10, 7));
    });
    afterAll(async () => rm(dir, { recursive: true, force: true }));

    it("returns a file's size and mtime, and does not read it again while they are the same", async () => {
      const files = new FileImageReader(dir);
      const loaded = await files.load(path, { maxBytes: 100 });
      expect(loaded.body.length).toBe(10);
      expect(loaded.validators).toEqual({ size: 10, mtimeMs: expect.any(Number) });

      const reservation = { bytes: 0, ensure: jest.fn() };
      const same = await files.load(path, { maxBytes: 100, validators: loaded.validators, reservation });
      expect(same).toEqual({ body: Buffer.alloc(0), notModified: true, validators: loaded.validators });
      expect(reservation.ensure).not.toHaveBeenCalled(); // not read, nothing reserved

      await utimes(path, new Date(), new Date(Date.now() + 5000));
      const touched = await files.load(path, { maxBytes: 100, validators: loaded.validators });
      expect(touched.notModified).toBeUndefined();
      expect(touched.body.length).toBe(10);
    });

    it('passes the validators of the context to URLs and files', async () => {
      const loader = new DefaultImageSourceLoader(
        resolveImageResizeOptions({ sources: { allowPrivateNetworks: ['127.0.0.1'] } }),
      );
      const url = await loader.load({ url: `${base}/logo` }, { validators: { etag: ETAG } });
      expect(url.notModified).toBe(true);
      const file = await loader.load({ path });
      expect(file.validators?.size).toBe(10);
      expect((await loader.load({ path }, { validators: file.validators })).notModified).toBe(true);
    });
  });

  describe('ConditionalSourceLoader', () => {
    it('passes validators to the load of the copy made for them, and to no other', async () => {
      const contexts: Array<SourceLoadContext | undefined> = [];
      const inner: ImageSourceLoader = {
        load: async (_source: ImageSourceDescriptor, context?: SourceLoadContext): Promise<LoadedSource> => {
          contexts.push(context);
          return { body: Buffer.alloc(1) };
        },
      };
      const loader = new ConditionalSourceLoader(inner);
      const source: ImageSourceDescriptor = { url: 'https://example.com/a.png', cacheKey: 'a' };
      const signal = new AbortController().signal;
      await loader.load(source, { signal });
      const copy = loader.conditional(source, { etag: ETAG });
      expect(copy).toEqual(source);
      expect(copy).not.toBe(source);
      await loader.load(copy, { signal });
      await loader.load(loader.conditional(source, undefined), { signal });
      expect(contexts).toEqual([{ signal }, { signal, validators: { etag: ETAG } }, { signal }]);
    });
  });
});
