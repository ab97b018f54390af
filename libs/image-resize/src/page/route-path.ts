/**
 * Route paths for the page: a Nest route pattern (`/assets/:slug/logo`) with its parameters filled in,
 * as a browser may request it.
 */

/** Thrown for a pattern that cannot be filled in, or a parameter that is missing or unsafe. */
export class RoutePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoutePathError';
  }
}

/** A value for a `:name` parameter, or for a `*name` wildcard (several segments). */
export type RouteParamValue = string | number | readonly (string | number)[];

type Token =
  | { kind: 'text'; text: string }
  | { kind: 'param'; name: string }
  | { kind: 'wildcard'; name: string }
  | { kind: 'group'; tokens: Token[] };

const NAME = /^[A-Za-z_$][\w$]*/;

/**
 * Reads a pattern in the syntax of Nest 11's routes (path-to-regexp 8): `:name` parameters, `*name`
 * wildcards, `{...}` optional parts and `\` escapes. The characters path-to-regexp reserves (`()[]?+!`)
 * are refused unescaped, as Nest 11 refuses them.
 */
function parse(pattern: string): Token[] {
  let at = 0;
  const fail = (what: string): never => {
    throw new RoutePathError(`Route pattern ${JSON.stringify(pattern)}: ${what} at character ${at + 1}`);
  };
  const read = (depth: number): Token[] => {
    const tokens: Token[] = [];
    let text = '';
    const flush = () => {
      if (text) tokens.push({ kind: 'text', text });
      text = '';
    };
    while (at < pattern.length) {
      const char = pattern[at];
      if (char === '\\') {
        if (at + 1 >= pattern.length) fail('a "\\" that escapes nothing');
        text += pattern[at + 1];
        at += 2;
      } else if (char === ':' || char === '*') {
        const name = NAME.exec(pattern.slice(at + 1))?.[0];
        if (!name) fail(`"${char}" without a parameter name`);
        flush();
        tokens.push({ kind: char === ':' ? 'param' : 'wildcard', name: name as string });
        at += 1 + (name as string).length;
      } else if (char === '{') {
        flush();
        at += 1;
        tokens.push({ kind: 'group', tokens: read(depth + 1) });
      } else if (char === '}') {
        if (depth === 0) fail('a "}" that closes nothing');
        flush();
        at += 1;
        return tokens;
      } else if ('()[]?+!'.includes(char)) {
        fail(`the reserved character "${char}" (escape it with "\\")`);
      } else {
        text += char;
        at += 1;
      }
    }
    if (depth > 0) fail('a "{" that is never closed');
    flush();
    return tokens;
  };
  return read(0);
}

function names(tokens: Token[], into: string[] = []): string[] {
  for (const token of tokens) {
    if (token.kind === 'group') names(token.tokens, into);
    else if (token.kind !== 'text') into.push(token.name);
  }
  return into;
}

/** One path segment, percent-encoded; refuses what would not stay one segment of this route. */
function segment(pattern: string, name: string, value: unknown): string {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new RoutePathError(`Route ${pattern}: parameter "${name}" is ${value}, not a finite number`);
    }
    text = String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    throw new RoutePathError(
      `Route ${pattern}: parameter "${name}" must be a string or a number, not ${value === null ? 'null' : typeof value}`,
    );
  }
  // An empty segment would be another route; "." and ".." are removed by every URL parser.
  if (text === '' || text === '.' || text === '..') {
    throw new RoutePathError(`Route ${pattern}: parameter "${name}" may not be ${JSON.stringify(text)}`);
  }
  try {
    return encodeURIComponent(text);
  } catch {
    throw new RoutePathError(`Route ${pattern}: parameter "${name}" is not valid Unicode (a lone surrogate)`);
  }
}

/**
 * `pattern` with its parameters filled in from `params`, each percent-encoded (`encodeURIComponent`):
 * `routePath('/assets/:slug/logo', { slug: 'a b' })` is `/assets/a%20b/logo`. A `*name` wildcard takes
 * a string (split on `/`) or an array of segments, each encoded; an optional `{...}` part is kept when
 * all its parameters are given and left out when none is.
 *
 * @throws RoutePathError for a parameter that is missing, given but not in the pattern, empty, `.` or
 *   `..`, or neither a string nor a finite number; for part of an optional group's parameters; and for
 *   a pattern Nest would not accept either
 */
export function routePath(pattern: string, params: Readonly<Record<string, RouteParamValue>> = {}): string {
  const tokens = parse(pattern);
  const known = names(tokens);
  const unknown = Object.keys(params).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new RoutePathError(
      `Route ${pattern} has no parameter ${unknown.map((name) => `"${name}"`).join(', ')}${
        known.length ? ` (its parameters: ${known.join(', ')})` : ' (it has none)'
      }`,
    );
  }
  const given = (name: string) =>
    Object.prototype.hasOwnProperty.call(params, name) && params[name] !== undefined;
  const fill = (parts: Token[]): string =>
    parts
      .map((token) => {
        switch (token.kind) {
          case 'text':
            return token.text;
          case 'param': {
            if (!given(token.name))
              throw new RoutePathError(`Route ${pattern} needs the parameter "${token.name}"`);
            const value = params[token.name];
            if (Array.isArray(value)) {
              throw new RoutePathError(
                `Route ${pattern}: parameter "${token.name}" takes one value, not an array`,
              );
            }
            return segment(pattern, token.name, value);
          }
          case 'wildcard': {
            if (!given(token.name))
              throw new RoutePathError(`Route ${pattern} needs the parameter "${token.name}"`);
            const value = params[token.name];
            const parts = Array.isArray(value)
              ? value
              : typeof value === 'string'
                ? value.split('/')
                : [value];
            if (parts.length === 0) {
              throw new RoutePathError(
                `Route ${pattern}: parameter "${token.name}" needs at least one segment`,
              );
            }
            return parts.map((part: unknown) => segment(pattern, token.name, part)).join('/');
          }
          case 'group': {
            const inside = names(token.tokens);
            const present = inside.filter(given);
            if (present.length === 0 && inside.length > 0) return '';
            if (present.length < inside.length) {
              throw new RoutePathError(
                `Route ${pattern}: give all or none of the optional parameters ${inside.join(', ')}`,
              );
            }
            return fill(token.tokens);
          }
        }
      })
      .join('');
  return fill(tokens);
}

/**
 * The path of a route as Nest joins it: the global prefix, the controller's path and the method's,
 * with one `/` between them, a leading `/` and no trailing one (`joinRoutePath('api', '/assets/',
 * ':slug/logo')` is `/api/assets/:slug/logo`). Undefined and empty parts are skipped.
 */
export function joinRoutePath(...parts: Array<string | undefined>): string {
  const joined = parts
    .filter((part): part is string => typeof part === 'string' && part !== '')
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter((part) => part !== '')
    .join('/');
  return `/${joined}`;
}
