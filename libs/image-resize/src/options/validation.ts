import { ImageResizeConfigError, InvalidResizeSpecError } from '../errors/image-resize.errors';

/*
 * Every check of a value the library is given — module options, `@ResizedImage()` options, a resize
 * spec, a request's query — goes through this file, in the manner of sharp's own `lib/is.js`: small
 * predicates (`is`), and one way to refuse a parameter, whose message reads
 *
 *   <name> must be <expected> (got <what was given>)
 *
 * e.g. `option "sources.maxRedirects" must be an integer >= 0 (got a string "3")`,
 * `@ResizedImage() widths[1] must be an integer >= 1 (got the number 0)`,
 * `quality must be an integer from 1 to 100 (got the number 101)`,
 * `?w must be an integer from 1 to 99999 (got a string "abc")`.
 * What was given is described by {@link describeValue}: its type, and the value itself when it is
 * short and not secret. Only the error class depends on where the value came from (see the
 * `*Checks` at the end): a module's or a route's options stop the application at boot with an
 * `ImageResizeConfigError`; a spec or a request gets a 400 `InvalidResizeSpecError`.
 */

/** Predicates: each says whether a value is of one kind, and throws nothing. */
export const is = {
  /** Neither `undefined` nor `null`. */
  defined: (value: unknown): boolean => value !== undefined && value !== null,
  /** An object that is neither `null` nor an array. */
  object: (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value),
  fn: (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function',
  bool: (value: unknown): value is boolean => typeof value === 'boolean',
  string: (value: unknown): value is string => typeof value === 'string',
  /** A finite number. */
  number: (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value),
  /** An integer that a double holds exactly (a "safe" integer). */
  integer: (value: unknown): value is number => Number.isSafeInteger(value),
  /** `min <= value <= max` (`max` absent: no upper bound). */
  inRange: (value: number, min: number, max = Infinity): boolean => value >= min && value <= max,
  inArray: <T>(value: unknown, list: readonly T[]): value is T => list.includes(value as T),
};

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/**
 * What a refused value is, for a message: its type, and the value itself when it is short and not
 * `secret` (signing keys and Redis URLs are described by their type and length only). Objects and
 * arrays are never quoted. `NaN` and `Infinity` are said as they are (`got NaN`), so that a number
 * converted from a string that is not one (`Number('abc')`) is spotted at once.
 */
export function describeValue(value: unknown, secret = false): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : 'an array';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      if (secret) return `a string of ${plural(value.length, 'character')}`;
      return value.length > 60
        ? `a string of ${value.length} characters`
        : `a string ${JSON.stringify(value)}`;
    case 'number':
      if (secret) return 'a number';
      // NaN (what Number() makes of "abc" or of a variable that is not set) and ±Infinity are said as
      // they are: never as JSON does it ("null").
      return Number.isFinite(value) ? `the number ${value}` : String(value);
    case 'boolean':
      return String(value);
    case 'object':
      return isEmptyPlainObject(value) ? 'an empty object' : 'an object';
    default:
      return `a ${typeof value}`;
  }
}

/** `{}` (and not a Buffer or another object whose keys would be costly to count). */
function isEmptyPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return (prototype === Object.prototype || prototype === null) && Object.keys(value).length === 0;
}

/** The one message of a refused parameter: `<name> must be <expected> (got <got>)`. */
export function invalidParameterMessage(name: string, expected: string, got: string): string {
  return `${name} must be ${expected} (got ${got})`;
}

/** `an integer >= 1`, `an integer from 1 to 100`: what {@link ParameterChecks.integer} expects. */
export function integerRange(min: number, max?: number): string {
  return max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
}

/** `one of png, jpeg, webp`: what {@link ParameterChecks.oneOf} expects. */
export function oneOfList(allowed: readonly unknown[]): string {
  return `one of ${allowed.join(', ')}`;
}

/** `an object { maxBytes?, maxAgeMs? }`: an object with these optional keys. */
export function objectWith(keys: readonly string[]): string {
  return keys.length === 0 ? 'an object' : `an object { ${keys.map((key) => `${key}?`).join(', ')} }`;
}

/** `fallback` when `value` is `undefined` (and only then: `null` is a value, and is checked), else `check(value)`. */
export function withDefault<T>(value: unknown, fallback: T, check: (value: unknown) => T): T {
  return value === undefined ? fallback : check(value);
}

/** Where a checked value comes from: how its parameters are named, and what refusing one throws. */
export interface ParameterSource {
  /** The name of the parameter at `path` (`''`: the whole object) as a message writes it. */
  name(path: string): string;
  /** The error that refuses a parameter, with the message made by {@link invalidParameterMessage}. */
  error(message: string): Error;
}

/** How a refused value is described: `secret` values are never quoted; `got` replaces the description. */
export interface DescribeAs {
  secret?: boolean;
  got?: string;
}

/** The checks, for parameters of one {@link ParameterSource}. Each returns the value it accepts, or throws. */
export class ParameterChecks {
  constructor(private readonly source: ParameterSource) {}

  /** The error refusing `value` at `path`, which must be `expected`. */
  invalid(path: string, expected: string, value: unknown, as: DescribeAs = {}): Error {
    const got = as.got ?? describeValue(value, as.secret);
    return this.source.error(invalidParameterMessage(this.source.name(path), expected, got));
  }

  /** Throws {@link invalid} unless `ok`: for a condition the other checks do not cover. */
  assert(ok: boolean, path: string, expected: string, value: unknown, as?: DescribeAs): void {
    if (!ok) throw this.invalid(path, expected, value, as);
  }

  /** An integer from `min` to `max` (`max` absent: no upper bound). */
  integer(path: string, value: unknown, min: number, max?: number): number {
    if (is.integer(value) && is.inRange(value, min, max)) return value;
    throw this.invalid(path, integerRange(min, max), value);
  }

  /** An encoder quality: an integer from 1 to 100. */
  quality(path: string, value: unknown): number {
    return this.integer(path, value, 1, 100);
  }

  /** A finite number from `min` to `max`. */
  number(path: string, value: unknown, min: number, max: number): number {
    if (is.number(value) && is.inRange(value, min, max)) return value;
    throw this.invalid(path, `a number from ${min} to ${max}`, value);
  }

  boolean(path: string, value: unknown): boolean {
    if (is.bool(value)) return value;
    throw this.invalid(path, 'a boolean', value);
  }

  /** A string; `expected` says more of it than "a string" where the place calls for it. */
  string(path: string, value: unknown, expected = 'a string'): string {
    if (is.string(value)) return value;
    throw this.invalid(path, expected, value);
  }

  /** A string that `pattern` matches; `expected` describes the pattern for people. */
  matching(path: string, value: unknown, pattern: RegExp, expected: string, as?: DescribeAs): string {
    if (is.string(value) && pattern.test(value)) return value;
    throw this.invalid(path, expected, value, as);
  }

  /** One of `allowed`. */
  oneOf<T>(path: string, value: unknown, allowed: readonly T[]): T {
    if (is.inArray(value, allowed)) return value;
    throw this.invalid(path, oneOfList(allowed), value);
  }

  /**
   * An object (not `null`, not an array). With `keys`, it may have no other key: an unknown key is
   * refused, and named (keys are names the application wrote, never secrets).
   */
  object(
    path: string,
    value: unknown,
    {
      keys,
      expected = objectWith(keys ?? []),
      secret,
    }: { keys?: readonly string[]; expected?: string; secret?: boolean },
  ): Record<string, unknown> {
    if (!is.object(value)) throw this.invalid(path, expected, value, { secret });
    const unknownKey = keys && Object.keys(value).find((key) => !keys.includes(key));
    if (unknownKey !== undefined) {
      throw this.invalid(path, expected, value, { got: `the unknown key ${JSON.stringify(unknownKey)}` });
    }
    return value;
  }

  /** An array, with at least one element when `nonEmpty`. */
  list(path: string, value: unknown, expected: string, { nonEmpty = false, secret = false } = {}): unknown[] {
    if (Array.isArray(value) && (!nonEmpty || value.length > 0)) return value;
    throw this.invalid(path, expected, value, { secret });
  }

  /** `check` applied to each element of `list`, as the parameter `path[index]`. */
  each<T>(path: string, list: readonly unknown[], check: (path: string, element: unknown) => T): T[] {
    return list.map((element, index) => check(`${path}[${index}]`, element));
  }
}

/** Module options (`forRoot`, `forRootAsync`): `option "sources.maxRedirects"`; refused at boot. */
export const optionChecks = new ParameterChecks({
  name: (path) => (path === '' ? 'options' : `option "${path}"`),
  error: (message) => new ImageResizeConfigError(message),
});

/** The options of one `@ResizedImage()`: `@ResizedImage() widths[0]`; refused when the class is defined. */
export const routeChecks = new ParameterChecks({
  name: (path) => `@ResizedImage() ${path === '' ? 'options' : path}`,
  error: (message) => new ImageResizeConfigError(message),
});

/** A resize spec (given to the service, or made for a request): `width`; a 400. */
export const specChecks = new ParameterChecks({
  name: (path) => (path === '' ? 'resize spec' : path),
  error: (message) => new InvalidResizeSpecError(message),
});

/** The query parameters of a request to a `@ResizedImage()` route: `?w`; a 400. */
export const queryChecks = new ParameterChecks({
  name: (path) => `?${path}`,
  error: (message) => new InvalidResizeSpecError(message),
});
