import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A response the origin gives for one path. */
export interface OriginRoute {
  status?: number;
  contentType?: string;
  body?: Buffer | string;
}

/** A route that answers by itself (redirects, slow or endless bodies...). */
export type OriginHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A local origin (127.0.0.1, free port) that serves fixed responses and counts requests per path. */
export interface TestOrigin {
  url: string;
  routes: Map<string, OriginRoute | OriginHandler>;
  /** Requests seen on any path. */
  total(): number;
  /** Requests seen per path. */
  hits: Map<string, number>;
  /** Headers of the last request per path. */
  lastHeaders: Map<string, Record<string, string | string[] | undefined>>;
  close(): Promise<void>;
}

export async function startOrigin(
  routes: Record<string, OriginRoute | OriginHandler> = {},
  host = '127.0.0.1',
): Promise<TestOrigin> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  const lastHeaders = new Map<string, Record<string, string | string[] | undefined>>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    lastHeaders.set(path, req.headers);
    const route = table.get(path);
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    if (typeof route === 'function') {
      route(req, res);
      return;
    }
    const body = route.body ?? '';
    res.writeHead(route.status ?? 200, {
      'Content-Type': route.contentType ?? 'application/octet-stream',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    routes: table,
    total: () => [...hits.values()].reduce((sum, count) => sum + count, 0),
    hits,
    lastHeaders,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
