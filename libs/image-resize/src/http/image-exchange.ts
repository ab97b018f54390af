import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/**
 * One request to a `@ResizedImage()` route and its response, on whichever HTTP platform Nest runs:
 * Express (`@nestjs/platform-express`, the default) or Fastify (`@nestjs/platform-fastify`).
 */
export interface ImageExchange {
  /** The platform's own request object: Express's `Request` or Fastify's `FastifyRequest`. */
  readonly request: { query?: unknown; headers: IncomingHttpHeaders };
  readonly headers: IncomingHttpHeaders;
  /** The query, parsed by the platform. */
  readonly query: Record<string, unknown>;
  /** The path as the client sent it, without the query. */
  readonly path: string;
  /** Sets a response header. */
  header(name: string, value: string | number): void;
  removeHeader(name: string): void;
  /** Adds `field` to the response's `Vary` header. */
  vary(field: string): void;
  /** Ends the response with `status` and `body` (a `HEAD` response carries the headers only). */
  send(status: number, body?: Buffer): void;
}

/** What the library uses of Express's request (so that it needs no Express types). */
interface ExpressRequestLike extends IncomingMessage {
  originalUrl: string;
  query?: unknown;
}

/** What the library uses of Express's response. */
interface ExpressResponseLike extends ServerResponse {
  req: ExpressRequestLike;
  vary(field: string): unknown;
}

class ExpressExchange implements ImageExchange {
  readonly query: Record<string, unknown>;

  constructor(
    readonly request: ExpressRequestLike,
    private readonly response: ExpressResponseLike,
  ) {
    // Express 5 parses the query on every read of `request.query`: once is enough.
    this.query = (request.query ?? {}) as Record<string, unknown>;
  }

  get headers(): IncomingHttpHeaders {
    return this.request.headers;
  }

  get path(): string {
    return withoutQuery(this.request.originalUrl);
  }

  header(name: string, value: string | number): void {
    this.response.setHeader(name, value);
  }

  removeHeader(name: string): void {
    this.response.removeHeader(name);
  }

  vary(field: string): void {
    this.response.vary(field);
  }

  send(status: number, body?: Buffer): void {
    this.response.statusCode = status;
    this.response.end(this.request.method === 'HEAD' ? undefined : body);
  }
}

/** What the library uses of Fastify's request (so that it needs no Fastify types). */
interface FastifyRequestLike {
  url: string;
  headers: IncomingHttpHeaders;
  query: unknown;
}

/** What the library uses of Fastify's reply. */
interface FastifyReplyLike {
  request: FastifyRequestLike;
  raw: object;
  header(name: string, value: string | number): unknown;
  getHeader(name: string): unknown;
  removeHeader(name: string): unknown;
  code(status: number): FastifyReplyLike;
  send(body?: Buffer): unknown;
}

class FastifyExchange implements ImageExchange {
  readonly request: FastifyRequestLike;

  constructor(private readonly reply: FastifyReplyLike) {
    this.request = reply.request;
  }

  get headers(): IncomingHttpHeaders {
    return this.request.headers;
  }

  get query(): Record<string, unknown> {
    return (this.request.query ?? {}) as Record<string, unknown>;
  }

  get path(): string {
    return withoutQuery(this.request.url);
  }

  header(name: string, value: string | number): void {
    this.reply.header(name, value);
  }

  removeHeader(name: string): void {
    this.reply.removeHeader(name);
  }

  vary(field: string): void {
    const given = this.reply.getHeader('vary');
    const current = (Array.isArray(given) ? given.join(', ') : typeof given === 'string' ? given : '').trim();
    const fields = current.split(',').map((f) => f.trim().toLowerCase());
    if (fields.includes('*') || fields.includes(field.toLowerCase())) return;
    this.reply.header('Vary', current ? `${current}, ${field}` : field);
  }

  send(status: number, body?: Buffer): void {
    // Fastify answers HEAD through the GET route and drops the body itself.
    this.reply.code(status).send(body);
  }
}

/** The exchange of the response object Nest gave a handler, or `undefined` for anything else. */
export function exchangeOf(response: unknown): ImageExchange | undefined {
  const candidate = response as Partial<ExpressResponseLike & FastifyReplyLike> | undefined;
  if (typeof candidate?.setHeader === 'function' && candidate.req) {
    return new ExpressExchange(candidate.req, candidate as ExpressResponseLike);
  }
  if (typeof candidate?.code === 'function' && candidate.raw && candidate.request) {
    return new FastifyExchange(candidate as FastifyReplyLike);
  }
  return undefined;
}

function withoutQuery(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
