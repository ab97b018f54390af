import { createHmac, timingSafeEqual } from 'node:crypto';

/** Query parameter that carries the signature. */
export const SIGNATURE_PARAM = 'sig';

/** Query values as Express parses them. */
export type QueryValues = Record<string, unknown>;

/**
 * Signs and verifies image URLs with HMAC-SHA256. The first key signs; every key verifies, so a key
 * can be rotated by putting the new one first and dropping the old one once the URLs signed with it
 * have expired. The signature covers the path and every query parameter but `sig` (sorted), so no
 * parameter can be added, removed or changed.
 */
export class UrlSigner {
  private readonly keys: Buffer[];

  /** @param keys secrets, newest first; each at least 32 characters. */
  constructor(keys: readonly string[]) {
    this.keys = keys.map((key) => Buffer.from(key, 'utf8'));
  }

  /** `path` with `params` and their signature as a query string. */
  sign(path: string, params: Record<string, string | number | boolean>): string {
    const query = canonicalQuery(Object.entries(params).map(([name, value]) => [name, String(value)]));
    const signature = this.mac(this.keys[0], path, query);
    return `${path}?${query ? `${query}&` : ''}${SIGNATURE_PARAM}=${signature}`;
  }

  /** Whether `query` carries a valid signature of `path` and its other parameters by any key. */
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
    return valid;
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
