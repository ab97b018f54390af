import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import type { FitMode, OutputFormat } from '../spec/resize-spec.interface';
import { EXPIRY_PARAM, SIGNATURE_PARAM } from '../signing/url-signer';

// The few shapes of @nestjs/swagger used here, declared locally so that its types never reach the
// library's declarations (it is an optional peer).
type Schema = Record<string, unknown>;
interface QueryOptions {
  name: string;
  required: boolean;
  description: string;
  schema: Schema;
}
interface ResponseOptions {
  status: number;
  description: string;
  headers?: Record<string, { description: string; schema: Schema }>;
  content?: Record<string, { schema: Schema }>;
}
type Decorator = (target: object, key: string | symbol, descriptor: PropertyDescriptor) => unknown;
interface Swagger {
  ApiProduces(...mimeTypes: string[]): Decorator;
  ApiQuery(options: QueryOptions): Decorator;
  ApiResponse(options: ResponseOptions): Decorator;
  DECORATORS: { API_PARAMETERS: string; API_RESPONSE: string; API_PRODUCES: string };
}

/** `null` once a load failed: @nestjs/swagger is not installed (or cannot be loaded here). */
let swagger: Swagger | null | undefined;

function loadSwagger(): Swagger | null {
  if (swagger === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      swagger = require('@nestjs/swagger') as Swagger;
    } catch {
      swagger = null;
    }
  }
  return swagger;
}

// Records, so that the compiler notices a format or fit the library gains.
const CONTENT_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
};
const FITS: Record<FitMode, true> = { inside: true, cover: true, contain: true, fill: true, outside: true };
const FORMATS = Object.keys(CONTENT_TYPES) as OutputFormat[];

/** Formats one variant may produce: `auto` negotiates AVIF or WebP, else its fallback (PNG or JPEG). */
function formatsOf(format: OutputFormat | 'auto' | undefined, fallback: OutputFormat | undefined) {
  if (format === 'auto') return ['avif', 'webp', ...(fallback ? [fallback] : ['png', 'jpeg'])];
  return [format ?? 'png'];
}

/** Content types the route may answer with: every format when a signed query may choose it. */
function contentTypesOf(spec: ResizedImageOptions): { types: string[]; negotiated: boolean } {
  if (spec.signed) return { types: FORMATS.map((f) => CONTENT_TYPES[f]), negotiated: true };
  const variants = [spec, ...Object.values(spec.presets ?? {}).map((preset) => ({ ...spec, ...preset }))];
  const formats = new Set(variants.flatMap((variant) => formatsOf(variant.format, variant.fallback)));
  return {
    types: FORMATS.filter((f) => formats.has(f)).map((f) => CONTENT_TYPES[f]),
    negotiated: variants.some((variant) => variant.format === 'auto'),
  };
}

function queryParameters(spec: ResizedImageOptions): QueryOptions[] {
  const params: QueryOptions[] = [];
  const hasBox = spec.width !== undefined && spec.height !== undefined;
  if (spec.signed) {
    const signedNote = `; covered by the signature (\`${SIGNATURE_PARAM}\`)`;
    params.push(
      {
        name: 'w',
        required: spec.width === undefined,
        description: `Width of the box in CSS pixels${spec.width === undefined ? '' : ` (default ${spec.width})`}${signedNote}`,
        schema: { type: 'integer', minimum: 1 },
      },
      {
        name: 'h',
        required: spec.height === undefined,
        description: `Height of the box in CSS pixels${spec.height === undefined ? '' : ` (default ${spec.height})`}${signedNote}`,
        schema: { type: 'integer', minimum: 1 },
      },
      {
        name: 'format',
        required: false,
        description: `Output format; \`auto\` negotiates it from \`Accept\`${signedNote}`,
        schema: { type: 'string', enum: [...FORMATS, 'auto'] },
      },
      {
        name: 'q',
        required: false,
        description: `Encoder quality for JPEG, WebP and AVIF${signedNote}`,
        schema: { type: 'integer', minimum: 1, maximum: 100 },
      },
      {
        name: 'fit',
        required: false,
        description: `How the image is fitted into the box${signedNote}`,
        schema: { type: 'string', enum: Object.keys(FITS) },
      },
      {
        name: 'dpr',
        required: false,
        description: `Device pixel ratio: the box is multiplied by it${signedNote}`,
        schema: { type: 'number', minimum: 1, maximum: 3 },
      },
      {
        name: EXPIRY_PARAM,
        required: false,
        description: `Expiry of the URL in unix seconds (signUrl's expiresIn or expiresAt); from then on the URL gets 403. Absent: the URL does not expire${signedNote}`,
        schema: { type: 'integer', minimum: 0 },
      },
      {
        name: SIGNATURE_PARAM,
        required: true,
        description:
          'HMAC-SHA256 signature of the path and every other query parameter (build the URL with ImageResizeService.signUrl); missing, invalid or expired gives 403',
        schema: { type: 'string' },
      },
    );
  } else {
    if (spec.presets) {
      params.push({
        name: 'preset',
        required: !hasBox,
        description: hasBox
          ? "Named size of the route; without it, the route's own size"
          : 'Named size of the route',
        schema: { type: 'string', enum: Object.keys(spec.presets) },
      });
    }
    if (spec.widths) {
      params.push({
        name: 'w',
        required: false,
        description: "Width among those the route offers; the height keeps the route's aspect ratio",
        schema: { type: 'integer', enum: [...spec.widths] },
      });
    }
  }
  if (spec.placeholder) {
    params.push({
      name: 'placeholder',
      required: false,
      description:
        'Present (any value): answer the original\u2019s placeholder as JSON (dataUrl, color, width, height, bytes) instead of an image',
      schema: { type: 'string' },
    });
  }
  params.push({
    name: 'redraw',
    required: false,
    description:
      "Present (any value): re-create the image instead of reading the cache. Honoured only where the module's `allowRedraw` permits it, ignored otherwise" +
      (spec.signed ? '; must be signed like the other parameters' : ''),
    schema: { type: 'string' },
  });
  return params;
}

/** What `?placeholder` answers on a route with `placeholder: true`. */
const PLACEHOLDER_BODY = {
  schema: {
    type: 'object',
    description: 'With ?placeholder: the placeholder of the original',
    properties: {
      dataUrl: { type: 'string', description: 'a 16 px WebP as a data: URL, to be blurred when shown' },
      color: { type: 'string', description: 'the dominant colour, #rrggbb' },
      width: { type: 'integer', description: "the original's width" },
      height: { type: 'integer', description: "the original's height" },
      bytes: { type: 'integer', description: 'the length of dataUrl' },
    },
  },
};

const ERROR_BODY = {
  'application/json': {
    schema: {
      type: 'object',
      properties: {
        statusCode: { type: 'integer' },
        message: { type: 'string' },
        error: { type: 'string' },
      },
    },
  },
};

/** What the route's `Cache-Control` says, as far as its own options tell. */
function cacheControlDescription(spec: ResizedImageOptions): string {
  const own = '; a Cache-Control the route sets with @Header() instead, and then no Expires';
  const options = spec.cacheControl;
  if (!options) {
    return `As the module's cacheControl says: public, max-age=<ttl> (with its s-maxage and immutable), or private, max-age=<ttl>${own}`;
  }
  if (options.private) return `private, max-age=<ttl>${own}`;
  const sMaxAge = options.sMaxAge !== undefined ? `, s-maxage=${options.sMaxAge}` : '';
  return `public, max-age=<ttl>${sMaxAge}${options.immutable ? ', immutable' : ''}${own}`;
}

function responses(spec: ResizedImageOptions, types: string[], negotiated: boolean): ResponseOptions[] {
  const image = { schema: { type: 'string', format: 'binary' } };
  const retryAfter = {
    'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  };
  return [
    {
      status: 200,
      description: 'The resized image (HEAD: its headers only)',
      headers: {
        'Cache-Control': { description: cacheControlDescription(spec), schema: { type: 'string' } },
        ETag: { description: 'Strong tag of the image bytes', schema: { type: 'string' } },
        'X-Cache': { description: 'HIT, MISS or BYPASS', schema: { type: 'string' } },
        ...(negotiated
          ? { Vary: { description: 'Accept, when the format was negotiated', schema: { type: 'string' } } }
          : {}),
      },
      content: {
        ...Object.fromEntries(types.map((type) => [type, image])),
        ...(spec.placeholder ? { 'application/json': PLACEHOLDER_BODY } : {}),
      },
    },
    { status: 304, description: "Not Modified: If-None-Match matches the image's ETag; no body" },
    {
      status: 400,
      description: 'The spec is invalid, or the request asks for a preset or width the route does not offer',
      content: ERROR_BODY,
    },
    {
      status: 403,
      description: spec.signed
        ? 'The signature is missing, invalid or expired, or the source is not allowed (scheme, host, or non-public address)'
        : 'The source is not allowed: not http(s), a host not allowed, a non-public address, or a file outside sources.fileRoot',
      content: ERROR_BODY,
    },
    {
      status: 404,
      description:
        'The handler returned no source, the origin answered 404 or 410, or the file is missing, unreadable or not a regular file',
      content: ERROR_BODY,
    },
    {
      status: 422,
      description:
        'Not an accepted or valid image, more bytes, pixels or decoded bytes than allowed, or a known decoder bomb',
      content: ERROR_BODY,
    },
    {
      status: 502,
      description: 'The origin is unreachable, answered another error status, or redirected too often',
      content: ERROR_BODY,
    },
    {
      status: 503,
      description:
        'Every resize slot is busy and maxQueue requests wait, the source does not fit in maxSourceBytesInFlight, or processing exceeded processingTimeoutMs (see Retry-After)',
      headers: retryAfter,
      content: ERROR_BODY,
    },
    {
      status: 504,
      description: 'The source (URL, stream or file) was not delivered within fetchTimeoutMs',
      content: ERROR_BODY,
    },
  ];
}

/**
 * Documents a `@ResizedImage()` route for `@nestjs/swagger`, when that package is installed: the
 * image content types, the query parameters the route reads and its responses. Without it, does
 * nothing. Call it with the descriptor whose `value` is the final handler (swagger keeps its metadata
 * on that function). Query parameters and responses already documented on it are left as they are.
 */
export function documentResizedImageRoute(
  target: object,
  key: string | symbol,
  descriptor: PropertyDescriptor,
  spec: ResizedImageOptions,
): void {
  const api = loadSwagger();
  if (!api || typeof descriptor.value !== 'function') return;
  const handler = descriptor.value as object;
  const { types, negotiated } = contentTypesOf(spec);

  const produced = (Reflect.getMetadata(api.DECORATORS.API_PRODUCES, handler) ?? []) as string[];
  const newTypes = types.filter((type) => !produced.includes(type));
  if (newTypes.length > 0) api.ApiProduces(...newTypes)(target, key, descriptor);

  const documented = (Reflect.getMetadata(api.DECORATORS.API_PARAMETERS, handler) ?? []) as Array<{
    name?: string;
    in?: string;
  }>;
  for (const param of queryParameters(spec)) {
    if (documented.some((other) => other.in === 'query' && other.name === param.name)) continue;
    api.ApiQuery(param)(target, key, descriptor);
  }

  const answered = (Reflect.getMetadata(api.DECORATORS.API_RESPONSE, handler) ?? {}) as Record<
    string,
    unknown
  >;
  for (const response of responses(spec, types, negotiated)) {
    if (answered[response.status] === undefined) api.ApiResponse(response)(target, key, descriptor);
  }
}
