import { OverloadedError } from '../errors/image-resize.errors';
import type { SourceBytesReservation } from './image-source-loader.interface';

/** What a client is told when the budget is full; no source is named. */
const FULL_MESSAGE = 'Too many images being loaded, retry shortly';

/**
 * The admission budget of source bytes (`maxSourceBytesInFlight`): the bytes of originals being
 * downloaded or read, or held until their resize has ended, in this registration. Each load opens a
 * {@link SourceReservation} and grows it before it holds more bytes; a growth that does not fit is
 * refused with a 503 {@link OverloadedError}, so the bytes are never read.
 */
export class SourceByteBudget {
  private used = 0;

  /**
   * @param capacity most bytes reserved at once
   * @param retryAfterSeconds the `Retry-After` of a refusal
   */
  constructor(
    readonly capacity: number,
    private readonly retryAfterSeconds = 1,
  ) {}

  /** Bytes reserved right now. */
  get inFlight(): number {
    return this.used;
  }

  /** A reservation of 0 bytes, for one source; release it when the source is no longer held. */
  open(): SourceReservation {
    return new SourceReservation(this);
  }

  /** @internal Takes `bytes` if they fit, else refuses. */
  take(bytes: number): void {
    if (this.used + bytes > this.capacity) {
      throw new OverloadedError(FULL_MESSAGE, this.retryAfterSeconds);
    }
    this.used += bytes;
  }

  /** @internal */
  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

/** The bytes one source holds in a {@link SourceByteBudget}. Released once; idempotent. */
export class SourceReservation implements SourceBytesReservation {
  private held = 0;
  private released = false;

  constructor(private readonly budget: SourceByteBudget) {}

  get bytes(): number {
    return this.held;
  }

  /**
   * Grows the reservation to at least `total` bytes.
   *
   * @throws OverloadedError (503, with `Retry-After`) when the budget cannot take them
   * @throws Error when the reservation was released: its load was given up, stop reading
   */
  ensure(total: number): void {
    if (this.released) throw new Error('The source was given up (its reservation is released)');
    if (total <= this.held) return;
    this.budget.take(total - this.held);
    this.held = total;
  }

  /** Sets the reservation to exactly `total` bytes: gives back what was reserved but not used. */
  settle(total: number): void {
    if (total >= this.held) {
      this.ensure(total);
      return;
    }
    this.budget.give(this.held - total);
    this.held = total;
  }

  /** Gives every byte back; later calls do nothing, and {@link ensure} refuses from now on. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}
