import { createHmac } from 'node:crypto';
import { EXPIRY_PARAM, UrlSigner } from './url-signer';

const OLD_KEY = 'old-key-0123456789-0123456789-0123456789';
const NEW_KEY = 'new-key-0123456789-0123456789-0123456789';

/** The query of a signed URL, as Express would parse it. */
function queryOf(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url, 'http://x').searchParams);
}

describe('UrlSigner', () => {
  const signer = new UrlSigner([NEW_KEY, OLD_KEY]);

  it('verifies what it signed, whatever the order of the parameters', () => {
    const url = signer.sign('/logos/acme', { w: 320, h: 160, format: 'webp' });
    expect(url).toMatch(/^\/logos\/acme\?format=webp&h=160&w=320&sig=[\w-]{43}$/);
    const query = queryOf(url);
    const reordered = { sig: query.sig, w: '320', format: 'webp', h: '160' };
    expect(signer.verify('/logos/acme', reordered)).toBe(true);
  });

  it('refuses a changed, added or removed parameter, another path, a repeated parameter, or no signature', () => {
    const query = queryOf(signer.sign('/logos/acme', { w: 320, h: 160 }));
    expect(signer.verify('/logos/acme', { ...query, w: '4000' })).toBe(false);
    expect(signer.verify('/logos/acme', { ...query, q: '100' })).toBe(false);
    expect(signer.verify('/logos/acme', { sig: query.sig, w: '320' })).toBe(false);
    expect(signer.verify('/logos/other', query)).toBe(false);
    expect(signer.verify('/logos/acme', { ...query, w: ['320', '320'] })).toBe(false);
    expect(signer.verify('/logos/acme', { w: '320', h: '160' })).toBe(false);
    expect(signer.verify('/logos/acme', { ...query, sig: 'short' })).toBe(false);
    expect(
      signer.verify('/logos/acme', {
        ...query,
        sig: query.sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
      }),
    ).toBe(false);
  });

  it('rotates keys: signs with the first, accepts every key, forgets dropped ones', () => {
    const before = queryOf(new UrlSigner([OLD_KEY]).sign('/l', { w: 10, h: 10 }));
    expect(signer.verify('/l', before)).toBe(true);
    expect(new UrlSigner([NEW_KEY]).verify('/l', before)).toBe(false);
    const after = queryOf(signer.sign('/l', { w: 10, h: 10 }));
    expect(new UrlSigner([NEW_KEY]).verify('/l', after)).toBe(true);
  });

  describe('with an expiry', () => {
    /** 2030-01-01T00:00:00Z, in milliseconds; the clock the signers below read. */
    const T0 = Date.UTC(2030, 0, 1);
    let now = T0;
    const clock = () => now;
    const timed = new UrlSigner([NEW_KEY, OLD_KEY], { now: clock });
    beforeEach(() => {
      now = T0;
    });

    it('signs exp (unix seconds) with the other parameters, from expiresIn or expiresAt', () => {
      const url = timed.sign('/l', { w: 10, h: 10 }, { expiresIn: 60 });
      expect(url).toMatch(/^\/l\?exp=1893456060&h=10&w=10&sig=[\w-]{43}$/);
      expect(queryOf(url)[EXPIRY_PARAM]).toBe(String(T0 / 1000 + 60));
      const at = timed.sign('/l', { w: 10, h: 10 }, { expiresAt: new Date(T0 + 60_000) });
      expect(at).toBe(url);
      // An instant between seconds: never later than asked; a duration: never shorter.
      expect(queryOf(timed.sign('/l', {}, { expiresAt: new Date(T0 + 1500) })).exp).toBe(
        String(T0 / 1000 + 1),
      );
      now = T0 + 500;
      expect(queryOf(timed.sign('/l', {}, { expiresIn: 1 })).exp).toBe(String(T0 / 1000 + 2));
    });

    it('verifies until the expiry, and refuses from then on', () => {
      const query = queryOf(timed.sign('/l', { w: 10, h: 10 }, { expiresIn: 60 }));
      expect(timed.verify('/l', query)).toBe(true);
      now = T0 + 59_999;
      expect(timed.verify('/l', query)).toBe(true);
      now = T0 + 60_000;
      expect(timed.verify('/l', query)).toBe(false);
      now = T0 + 365 * 86_400_000;
      expect(timed.verify('/l', query)).toBe(false);
    });

    it('refuses a changed, removed or malformed exp', () => {
      const query = queryOf(timed.sign('/l', { w: 10, h: 10 }, { expiresIn: 60 }));
      expect(timed.verify('/l', { ...query, exp: String(Number(query.exp) + 3600) })).toBe(false);
      const { exp: _exp, ...withoutExp } = query;
      expect(timed.verify('/l', withoutExp)).toBe(false);
      expect(timed.verify('/l', { ...query, exp: [query.exp, query.exp] })).toBe(false);
      // A signature over a malformed exp is refused too: the expiry must be read as it was signed.
      for (const exp of ['soon', '1e12', '-1', '', ' 1893456060', '1893456060.5']) {
        expect(timed.verify('/l', signedRaw('/l', { w: '10', exp }))).toBe(false);
      }
      expect(timed.verify('/l', signedRaw('/l', { w: '10', exp: '1893456060' }))).toBe(true);
    });

    it('keeps URLs signed without an expiry valid', () => {
      const query = queryOf(timed.sign('/l', { w: 10, h: 10 }));
      expect(query[EXPIRY_PARAM]).toBeUndefined();
      now = T0 + 10 * 365 * 86_400_000;
      expect(timed.verify('/l', query)).toBe(true);
    });

    it('rotates keys: a URL signed with the old key verifies until its expiry', () => {
      const old = queryOf(
        new UrlSigner([OLD_KEY], { now: clock }).sign('/l', { w: 10 }, { expiresIn: 3600 }),
      );
      now = T0 + 3_599_000;
      expect(timed.verify('/l', old)).toBe(true);
      expect(new UrlSigner([NEW_KEY], { now: clock }).verify('/l', old)).toBe(false);
      now = T0 + 3_600_000;
      expect(timed.verify('/l', old)).toBe(false);
    });

    it('refuses to sign an unclear expiry', () => {
      expect(() => timed.sign('/l', {}, { expiresIn: 0 })).toThrow(RangeError);
      expect(() => timed.sign('/l', {}, { expiresIn: -5 })).toThrow(RangeError);
      expect(() => timed.sign('/l', {}, { expiresIn: Number.NaN })).toThrow(RangeError);
      expect(() => timed.sign('/l', {}, { expiresAt: new Date('nonsense') })).toThrow(RangeError);
      expect(() => timed.sign('/l', {}, { expiresIn: 60, expiresAt: new Date(T0) })).toThrow(TypeError);
      expect(() => timed.sign('/l', { exp: 1 }, { expiresIn: 60 })).toThrow(TypeError);
      expect(() => timed.sign('/l', { exp: 1 })).toThrow(TypeError);
      expect(() => timed.sign('/l', { sig: 'x' })).toThrow(TypeError);
    });
  });
});

/** A query signed with NEW_KEY as given, bypassing sign()'s checks, as a key holder could make it. */
function signedRaw(path: string, params: Record<string, string>): Record<string, string> {
  const query = Object.entries(params)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
  const sig = createHmac('sha256', NEW_KEY).update(`${path}?${query}`).digest('base64url');
  return { ...params, sig };
}
