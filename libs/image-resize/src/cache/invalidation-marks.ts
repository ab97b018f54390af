/** Slots the names share (a power of two): 8192 slots, 64 KiB. */
const SLOTS = 8192;

/**
 * When the names a hot tier holds copies under (variant keys, groups) were last invalidated, so that a
 * read from Redis is kept unless something touching its own key or group happened while it was under
 * way — not whenever anything at all was invalidated, which other instances' traffic would make
 * constant.
 *
 * A mark is a reading of a clock that each invalidation advances. Names share {@link SLOTS} slots by
 * hash, so memory is fixed whatever the traffic: two names in one slot can only make a read be dropped
 * needlessly, never kept wrongly. Invalidating everything (the subscription dropped, or came back)
 * disturbs every read under way.
 */
export class InvalidationMarks {
  private clock = 0;
  /** The clock when everything was last invalidated. */
  private everything = 0;
  /** The clock when a name of each slot was last invalidated. */
  private readonly slots = new Float64Array(SLOTS);

  /** The mark to take before reading from (or writing to) Redis, and to pass on. */
  get now(): number {
    return this.clock;
  }

  /** `name` (a key or a group) may have changed: reads of it under way are not to be kept. */
  invalidate(name: string): void {
    this.clock += 1;
    this.slots[slotOf(name)] = this.clock;
  }

  /** Anything may have changed: no read under way is to be kept. */
  invalidateAll(): void {
    this.clock += 1;
    this.everything = this.clock;
  }

  /** Whether something that may concern any of `names` was invalidated since `mark` was taken. */
  since(mark: number, ...names: string[]): boolean {
    if (this.everything > mark) return true;
    return names.some((name) => this.slots[slotOf(name)] > mark);
  }
}

/** FNV-1a of `name`'s UTF-16 units, folded onto the slots. */
function slotOf(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) & (SLOTS - 1);
}
