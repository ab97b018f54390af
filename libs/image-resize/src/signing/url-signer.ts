import { createHmac, timingSafeEqual } from 'node:crypto';

/** Query parameter that carries the signature. */
export const SIGNATURE_PARAM = 'sig';

/** Query parameter that carries a signed URL's expiry, in unix seconds; signed with the others. */
export const EXPIRY_PARAM = 'exp';

/** Query values as Express parses them. */
export type QueryValues = Record<string, unknown>;

/** When a signed URL stops being valid; give one of the two, or neither for a URL that never expires. */
export interface SignUrlOptions {
  /** Seconds from now; the URL is refused (403) once they have passed (rounded up to a whole second). */
  expiresIn?: number;
  /** The instant from which the URL is refused (403), rounded down to a whole second. */
  expiresAt?: Date;
}

/** Options of {@link UrlSigner}. */
export interface UrlSignerOptions {
  /** The clock expiries are read against, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** An expiry as it is signed: unix seconds, digits only. */
const EXPIRY_VALUE = /^\d{1,12}$/;

/**
 * Signs and verifies image URLs with HMAC-SHA256. The first key signs; every key verifies, so a key
 * can be rotated by putting the new one first and dropping the old one once the URLs signed with it
 * have expired. The signature covers the path and every query parameter but `sig` (sorted), so no
 * parameter can be added, removed or changed — `exp`, the expiry, included. A URL without `exp`
 * does not expire.
 */
export class UrlSigner {
  private readonly keys: Buffer[];
  private readonly now: () => number;

  /** @param keys secrets, newest first; each at least 32 characters. */
  constructor(keys: readonly string[], options: UrlSignerOptions = {}) {
    this.keys = keys.map((key) => Buffer.from(key, 'utf8'));
    this.now = options.now ?? Date.now;
  }

  /**
   * `path` with `params`, the expiry (`exp`) if one is asked for, and their signature as a query
   * string.
   *
   * @throws RangeError for an expiry that is not a positive duration or a valid date
   * @throws TypeError for both `expiresIn` and `expiresAt`, or a parameter named `exp` or `sig`
   */
  sign(
    path: string,
    params: Record<string, string | number | boolean>,
    options: SignUrlOptions = {},
  ): string {
    for (const reserved of [SIGNATURE_PARAM, EXPIRY_PARAM]) {
      if (Object.prototype.hasOwnProperty.call(params, reserved)) {
        throw new TypeError(
          `"${reserved}" is set by the signer: give an expiry as { expiresIn } or { expiresAt }`,
        );
      }
    }
    const entries = Object.entries(params).map(([name, value]): [string, string] => [name, String(value)]);
    const expiry = this.expiryOf(options);
    if (expiry !== undefined) entries.push([EXPIRY_PARAM, String(expiry)]);
    const query = canonicalQuery(entries);
    const signature = this.mac(this.keys[0], path, query);
    return `${path}?${query ? `${query}&` : ''}${SIGNATURE_PARAM}=${signature}`;
  }

  /**
   * Whether `query` carries a valid signature of `path` and its other parameters by any key, and
   * its `exp`, if it has one, has not passed.
   */
  verify(path: string, query: QueryValues): boolean {
    const given = query[SIGNATURE_PARAM];
    if (typeof given !== 'string') return false;
    const entries: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(query)) {
      if (name === SIGNATURE_PARAM) continue;
      if (typeof value !== 'string') return false; // repeated or nested parameters are never signed
      entries.push([name, value]);
    }
    const canonical = canonicalQuery(entries);
    const received = Buffer.from(given, 'utf8');
    let valid = false;
    for (const key of this.keys) {
      const expected = Buffer.from(this.mac(key, path, canonical), 'utf8');
      // Constant time, and every key is tried, so timing tells nothing about which one matched.
      if (expected.length === received.length && timingSafeEqual(expected, received)) valid = true;
    }
    return valid && !this.hasExpired(query[EXPIRY_PARAM] as string | undefined);
  }

  /** Unix seconds of the expiry asked for, or undefined for none. */
  private expiryOf({ expiresIn, expiresAt }: SignUrlOptions): number | undefined {
    if (expiresIn !== undefined && expiresAt !== undefined) {
      throw new TypeError('Give a signed URL expiresIn or expiresAt, not both');
    }
    if (expiresIn !== undefined) {
      if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
        throw new RangeError('expiresIn must be a positive number of seconds');
      }
      return Math.ceil((this.now() + expiresIn * 1000) / 1000);
    }
    if (expiresAt !== undefined) {
      const time = expiresAt instanceof Date ? expiresAt.getTime() : Number.NaN;
      if (!(time >= 0)) throw new RangeError('expiresAt must be a valid Date');
      return Math.floor(time / 1000);
    }
    return undefined;
  }

  /** A signed `exp` that is not whole unix seconds is treated as expired: it cannot be read as it was meant. */
  private hasExpired(exp: string | undefined): boolean {
    if (exp === undefined) return false;
    return !EXPIRY_VALUE.test(exp) || this.now() >= Number(exp) * 1000;
  }

  private mac(key: Buffer, path: string, query: string): string {
    return createHmac('sha256', key).update(`${path}?${query}`).digest('base64url');
  }
}

function canonicalQuery(entries: Array<[string, string]>): string {
  return entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
}
