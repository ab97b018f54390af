import { HttpException, type LoggerService } from '@nestjs/common';
import type { ImageResizeMetrics } from '../image-resize.metrics';
import { ImageResizeError, loggableMessage, SourceNotAllowedError } from './image-resize.errors';

/**
 * Counts a failed call and logs it under `name` (its cacheKey, or how the source is named without
 * one) with, for a failed fetch, its cause (kind and code); a refused host name goes to debug. No
 * line holds a URL, an address, a port, a credential or a signature: other errors' messages are
 * logged with addresses taken out. 5xx are errors, the rest warnings.
 */
export function reportFailure(
  logger: LoggerService,
  metrics: ImageResizeMetrics,
  error: unknown,
  name: string,
): void {
  const status = error instanceof HttpException ? error.getStatus() : 500;
  const reason = loggableMessage(error);
  metrics.emit({ type: 'failed', status, reason });
  const cause = error instanceof ImageResizeError && error.logCause ? `; cause: ${error.logCause}` : '';
  const message = `Could not serve image ${name}: ${status} ${reason}${cause}`;
  if (status >= 500) logger.error(message);
  else logger.warn(message);
  if (error instanceof SourceNotAllowedError && error.refusedHost) {
    logger.debug?.(`Refused the source host "${error.refusedHost}" of ${name}: ${reason}`);
  } else if (error instanceof SourceNotAllowedError && error.refusedAddressLiteral) {
    logger.debug?.(`Refused an IP address literal as the source host of ${name}: ${reason}`);
  }
}
