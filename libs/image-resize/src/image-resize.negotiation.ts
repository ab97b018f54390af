import Negotiator from 'negotiator';

const CANDIDATES = ['image/avif', 'image/webp'];

/**
 * The modern format a client accepts, from its `Accept` header: AVIF, then WebP, by q-value (a
 * `q=0` excludes), counting only types the header names explicitly — `*\/*` and `image/*` do not
 * promise AVIF (curl and old browsers send them). `undefined` when neither is accepted.
 */
export function negotiateImageFormat(accept: string | undefined): 'avif' | 'webp' | undefined {
  if (!accept) return undefined;
  const named = accept.toLowerCase();
  for (const type of new Negotiator({ headers: { accept } }).mediaTypes(CANDIDATES)) {
    if (named.includes(type)) return type === 'image/avif' ? 'avif' : 'webp';
  }
  return undefined;
}
