import Negotiator from 'negotiator';
import { LRUCache } from 'lru-cache';

const CANDIDATES = ['image/avif', 'image/webp'];

/**
 * The modern format a client accepts, from its `Accept` header: the one with the higher q-value,
 * AVIF when they tie (a `q=0` excludes), counting only types the header names explicitly — `*\/*`
 * and `image/*` do not promise AVIF (curl and old browsers send them). `undefined` when neither is
 * accepted.
 */
export function negotiateImageFormat(accept: string | undefined): 'avif' | 'webp' | undefined {
  if (!accept) return undefined;
  const named = accept.toLowerCase();
  // Negotiator breaks q-value ties by the header's order; listing AVIF entries first makes a tie go to
  // AVIF (smaller files) while a strictly higher q for WebP still wins.
  const entries = accept.split(',');
  const avifFirst = [
    ...entries.filter((entry) => entry.trim().toLowerCase().startsWith('image/avif')),
    ...entries.filter((entry) => !entry.trim().toLowerCase().startsWith('image/avif')),
  ].join(',');
  for (const type of new Negotiator({ headers: { accept: avifFirst } }).mediaTypes(CANDIDATES)) {
    if (named.includes(type)) return type === 'image/avif' ? 'avif' : 'webp';
  }
  return undefined;
}

/**
 * {@link negotiateImageFormat} remembering its last 256 answers: clients send the same few `Accept`
 * headers over and over.
 */
export function memoizedNegotiator(): (accept: string | undefined) => 'avif' | 'webp' | undefined {
  const answers = new LRUCache<string, 'avif' | 'webp' | 'none'>({ max: 256 });
  return (accept) => {
    if (!accept) return undefined;
    let format = answers.get(accept);
    if (format === undefined) {
      format = negotiateImageFormat(accept) ?? 'none';
      answers.set(accept, format);
    }
    return format === 'none' ? undefined : format;
  };
}
