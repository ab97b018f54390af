import { UpstreamTimeoutError } from '../errors/image-resize.errors';
import type { ImageSourceDescriptor } from './image-source.interface';

/** The 504 of a source that missed its deadline; the logs say which kind of source and the limit. */
export function sourceTimeoutError(source: ImageSourceDescriptor, timeoutMs: number): UpstreamTimeoutError {
  const what =
    source.url !== undefined
      ? 'no complete response'
      : source.stream !== undefined
        ? 'the stream did not end'
        : 'the file was not read';
  return new UpstreamTimeoutError(undefined, { logCause: `${what} within ${timeoutMs} ms (fetchTimeoutMs)` });
}

/** A signal aborted at a deadline, or when `outer` is; `clear()` stops its timer. */
export interface Deadline {
  signal: AbortSignal;
  clear(): void;
}

/**
 * A signal aborted with `reason()` after `timeoutMs`, or with `outer`'s reason when `outer` is
 * aborted first.
 */
export function deadline(timeoutMs: number, reason: () => unknown, outer?: AbortSignal): Deadline {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(outer?.reason);
  const timer = setTimeout(() => controller.abort(reason()), timeoutMs);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}
