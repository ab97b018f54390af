import type * as OpenTelemetry from '@opentelemetry/api';
import { ImageResizeConfigError, ImageResizeError, loggableMessage } from '../errors/image-resize.errors';

/**
 * Spans of the pipeline, with OpenTelemetry when the application has `@opentelemetry/api` (an optional
 * peer): the lookup (`image_resize.lookup`, and which tier answered), the wait for a miss another
 * request or instance is making (`image_resize.wait`), the load of the original (`image_resize.fetch`),
 * its decoding and resizing (`image_resize.resize`) and the store (`image_resize.store`). Each is a
 * child of the span active when the service is called (an HTTP instrumentation's server span), so a
 * request's trace shows its steps.
 *
 * Without the package, {@link tracing} is `undefined`: the pipeline checks it once per step and makes
 * no span, closure or context of any kind. With the package but no SDK registered (it comes with
 * prom-client, for one), no span is made either: each step asks the API whether an SDK is there.
 *
 * Never recorded: URLs (their path, query and credentials: the host alone, as `server.address`), cache
 * keys, and messages of errors that are not the library's own (their addresses are taken out, as in the
 * logs, and no stack is kept).
 */

/** The tracer's name (the instrumentation scope). */
export const TRACER_NAME = 'nestjs-image-resize';

/** Which tier of the cache answered a lookup (`image_resize.tier`). */
export type CacheTier =
  /** The Redis cache's in-process hot tier. */
  | 'hot'
  /** Redis itself. */
  | 'redis'
  /** The in-memory cache (no `redis` option). */
  | 'memory'
  /** The cache-manager store (`useCacheManager`). */
  | 'cache-manager'
  /** A cache of the application's own (`IMAGE_RESIZE_CACHE`). */
  | 'custom'
  /** The outage tier: Redis did not answer, and this instance made the image lately. */
  | 'outage'
  /** No tier: a miss. */
  | 'none';

/** What the pipeline sets on a span. */
export interface TraceSpan {
  setAttribute(key: string, value: string | number | boolean): unknown;
}

/** The lookup's span, open from before the cache is asked until the pipeline knows what answered. */
export interface LookupTrace {
  /** Runs `lookup` with the span active: a cache may then say which of its tiers answered ({@link answeredBy}). */
  run<T>(lookup: () => Promise<T>): Promise<T>;
  /**
   * Ends the span with the tier that answered: the one the cache named while `run` ran, else `tier`.
   *
   * @param unavailable the cache failed to answer (`image_resize.cache.unavailable`)
   */
  end(tier: CacheTier, unavailable?: boolean): void;
}

/** A span that is not made active (nothing of the library runs under it), ended once. */
export interface OpenTrace {
  /** Ends the span, once (later calls do nothing); with an outcome, sets it first. */
  end(outcome?: string): void;
}

type Api = typeof OpenTelemetry;
type Span = OpenTelemetry.Span;

/** `@opentelemetry/api` if the application has it; looked for once, when this module loads. */
function loadApi(): Api | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@opentelemetry/api') as Api;
  } catch {
    return undefined;
  }
}

/** The library's version, for the tracer (this file is two folders below package.json, in src and in dist). */
function libraryVersion(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const manifest = require('../../package.json') as { name?: unknown; version?: unknown };
    return manifest.name === TRACER_NAME && typeof manifest.version === 'string'
      ? manifest.version
      : undefined;
  } catch {
    return undefined;
  }
}

/** The span given to work run without one (no SDK registered). */
const NO_SPAN: TraceSpan = { setAttribute: () => undefined };

/** What a cache says of a lookup while it runs: which of its tiers answered. */
interface LookupNote {
  tier?: CacheTier;
}

/** The library's spans; see {@link tracing}. */
export interface PipelineTracing {
  /**
   * Runs `work` in a new span `name`, active while it runs (a child of the span active now), and ends
   * the span when its promise settles; a failure is recorded on the span, which is then an error.
   * `work` is called at once (synchronously), so that a caller can keep a handle on what it starts.
   */
  inSpan<T>(name: string, work: (span: TraceSpan) => Promise<T>): Promise<T>;
  /** {@link inSpan} for the load of an original (`image_resize.fetch`), whose status the fetcher sets. */
  inFetchSpan<T>(work: (span: TraceSpan) => Promise<T>): Promise<T>;
  /** Starts the lookup's span (see {@link LookupTrace}); `undefined` while no SDK is registered. */
  lookup(): LookupTrace | undefined;
  /**
   * Starts the span of a wait for a miss being made elsewhere: by another request of this instance
   * (`same_instance`), or by another instance that holds the variant's lock (`other_instance`). Its
   * outcome (`image_resize.wait.outcome`) says how it ended. `undefined` while no SDK is registered.
   */
  wait(on: 'same_instance' | 'other_instance'): OpenTrace | undefined;
  /** A cache's note that `tier` answered the lookup under way (if one is: see {@link LookupTrace.run}). */
  noteTier(tier: CacheTier): void;
  /** Sets the status of the origin's response on the fetch span under way, if there is one. */
  noteFetchStatus(status: number): void;
}

/** Makes the library's spans through the OpenTelemetry API. */
class OpenTelemetryTracing implements PipelineTracing {
  private readonly version = libraryVersion();
  /** Holds the {@link LookupNote} of the lookup under way, for {@link answeredBy}. */
  private readonly lookupKey: symbol;
  /** Holds the fetch span under way, for {@link fetchStatus}. */
  private readonly fetchKey: symbol;

  constructor(private readonly api: Api) {
    this.lookupKey = api.createContextKey('nestjs-image-resize lookup');
    this.fetchKey = api.createContextKey('nestjs-image-resize fetch');
  }

  inSpan<T>(name: string, work: (span: TraceSpan) => Promise<T>): Promise<T> {
    const tracer = this.tracer();
    if (!tracer) return work(NO_SPAN);
    return tracer.startActiveSpan(name, (span) => this.settle(span, work));
  }

  inFetchSpan<T>(work: (span: TraceSpan) => Promise<T>): Promise<T> {
    const tracer = this.tracer();
    if (!tracer) return work(NO_SPAN);
    const { api } = this;
    const parent = api.context.active();
    const span = tracer.startSpan('image_resize.fetch', undefined, parent);
    const context = api.trace.setSpan(parent, span).setValue(this.fetchKey, span);
    return api.context.with(context, () => this.settle(span, work));
  }

  lookup(): LookupTrace | undefined {
    const tracer = this.tracer();
    if (!tracer) return undefined;
    const { api } = this;
    const parent = api.context.active();
    const span = tracer.startSpan('image_resize.lookup', undefined, parent);
    const note: LookupNote = {};
    const context = api.trace.setSpan(parent, span).setValue(this.lookupKey, note);
    return {
      run: (lookup) => api.context.with(context, lookup),
      end: (tier, unavailable) => {
        span.setAttribute('image_resize.tier', note.tier ?? tier);
        if (unavailable) span.setAttribute('image_resize.cache.unavailable', true);
        span.end();
      },
    };
  }

  wait(on: 'same_instance' | 'other_instance'): OpenTrace | undefined {
    const tracer = this.tracer();
    if (!tracer) return undefined;
    const span = tracer.startSpan('image_resize.wait', {
      attributes: { 'image_resize.wait.on': on },
    });
    let ended = false;
    return {
      end: (outcome) => {
        if (ended) return;
        ended = true;
        if (outcome !== undefined) span.setAttribute('image_resize.wait.outcome', outcome);
        span.end();
      },
    };
  }

  noteTier(tier: CacheTier): void {
    const note = this.api.context.active().getValue(this.lookupKey) as LookupNote | undefined;
    if (note) note.tier = tier;
  }

  noteFetchStatus(status: number): void {
    const span = this.api.context.active().getValue(this.fetchKey) as Span | undefined;
    span?.setAttribute('http.response.status_code', status);
  }

  /**
   * The library's tracer from the registered SDK, or `undefined` while none is registered: the
   * pipeline then makes no span (not even the API's no-op ones) and pays a lookup of the global per
   * step. Asked each time (the SDK keeps its tracers): an SDK registered, or replaced, later is used.
   */
  private tracer(): OpenTelemetry.Tracer | undefined {
    const provider = this.api.trace.getTracerProvider();
    // The API's own provider is a proxy, which delegates to the SDK once one is registered.
    if (provider instanceof this.api.ProxyTracerProvider) {
      return provider.getDelegateTracer(TRACER_NAME, this.version);
    }
    return provider.getTracer(TRACER_NAME, this.version);
  }

  /** Runs `work` and ends `span` when it settles, recording a failure (thrown, or a rejection). */
  private settle<T>(span: Span, work: (span: TraceSpan) => Promise<T>): Promise<T> {
    let result: Promise<T>;
    try {
      result = work(span);
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        this.fail(span, error);
        span.end();
        throw error;
      },
    );
  }

  /**
   * Records `error` on `span` and marks it an error: its class (`error.type`), its message (see
   * {@link traceableMessage}), and the library's HTTP status and cause of the failure when it has them.
   * Never the stack, whose first line repeats the message as it was.
   */
  private fail(span: Span, error: unknown): void {
    const message = traceableMessage(error);
    const type = error instanceof Error && /^\w{1,60}$/.test(error.name) ? error.name : 'Error';
    span.recordException({ name: type, message });
    span.setAttribute('error.type', type);
    if (error instanceof ImageResizeError) {
      span.setAttribute('image_resize.error.status', error.getStatus());
      if (error.logCause !== undefined) span.setAttribute('image_resize.error.cause', error.logCause);
    }
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
  }
}

/** A URL in an error's message: scheme, then anything up to a space or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]+/gi;

/**
 * What a span may say of `error`: the library's own message as it is (it holds no address, URL or
 * secret); any other with its URLs, addresses and ports taken out.
 */
export function traceableMessage(error: unknown): string {
  if (error instanceof ImageResizeError || error instanceof ImageResizeConfigError) return error.message;
  const message = error instanceof Error ? error.message : String(error);
  return loggableMessage(new Error(message.replace(URL_IN_TEXT, '<url>')));
}

const api = loadApi();

/**
 * The library's tracing: `undefined` when `@opentelemetry/api` is not installed, and then the pipeline
 * makes no span and pays nothing but the check.
 */
export const tracing: PipelineTracing | undefined = api ? new OpenTelemetryTracing(api) : undefined;

/**
 * For a cache: notes that `tier` answered the lookup under way (the service names the cache's own tier
 * otherwise), and returns `image`. Costs a check when tracing is off.
 */
export function answeredBy<T>(tier: CacheTier, image: T): T {
  if (tracing) tracing.noteTier(tier);
  return image;
}

/** For a fetcher: sets the status of the origin's response on the fetch span under way. */
export function fetchStatus(status: number): void {
  if (tracing) tracing.noteFetchStatus(status);
}

/** `host` as `server.address` has it: an IPv6 address without its brackets. */
export function serverAddress(url: string): string | undefined {
  try {
    const { hostname } = new URL(url);
    return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname || undefined;
  } catch {
    return undefined;
  }
}
