/**
 * Binary min-heap of (at, slot, tag) in typed arrays: no object per entry, and nothing for the garbage collector to
 * trace however many leases there are. Ties on `at` come out in insertion order. `slot` and `tag` are the caller's
 * (the lease table stores a record slot and that record's version, to skip entries that went stale).
 */
export class ExpiryHeap {
  private at: Float64Array;
  /** Insertion sequence number: breaks ties of `at`. A double counts further than any heap will ever push. */
  private seq: Float64Array;
  private slots: Int32Array;
  private tags: Uint32Array;
  private length = 0;
  private nextSeq = 0;

  constructor(initialCapacity = 64) {
    const capacity = Math.max(1, initialCapacity);
    this.at = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.slots = new Int32Array(capacity);
    this.tags = new Uint32Array(capacity);
  }

  get size(): number {
    return this.length;
  }

  /** `at` of the earliest entry; undefined when empty. */
  peekAt(): number | undefined {
    return this.length === 0 ? undefined : this.at[0];
  }

  /** Slot of the earliest entry; -1 when empty. */
  peekSlot(): number {
    return this.length === 0 ? -1 : (this.slots[0] as number);
  }

  /** Tag of the earliest entry; 0 when empty. */
  peekTag(): number {
    return this.length === 0 ? 0 : (this.tags[0] as number);
  }

  push(at: number, slot: number, tag: number): void {
    if (this.length === this.at.length) this.grow();
    let index = this.length++;
    const seq = this.nextSeq++;
    // Sift up by moving parents down into the hole; the new entry is written once at its final place.
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentAt = this.at[parent] as number;
      if (parentAt < at || (parentAt === at && (this.seq[parent] as number) < seq)) break;
      this.move(parent, index);
      index = parent;
    }
    this.set(index, at, seq, slot, tag);
  }

  /** Removes the earliest entry (see peekAt/peekSlot/peekTag); no-op when empty. */
  pop(): void {
    if (this.length === 0) return;
    const last = --this.length;
    if (last === 0) return;
    const at = this.at[last] as number;
    const seq = this.seq[last] as number;
    const slot = this.slots[last] as number;
    const tag = this.tags[last] as number;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= last) break;
      const right = left + 1;
      let child = left;
      if (right < last && this.before(right, left)) child = right;
      const childAt = this.at[child] as number;
      if (at < childAt || (at === childAt && seq < (this.seq[child] as number))) break;
      this.move(child, index);
      index = child;
    }
    this.set(index, at, seq, slot, tag);
  }

  private before(a: number, b: number): boolean {
    const atA = this.at[a] as number;
    const atB = this.at[b] as number;
    return atA < atB || (atA === atB && (this.seq[a] as number) < (this.seq[b] as number));
  }

  private move(from: number, to: number): void {
    this.at[to] = this.at[from] as number;
    this.seq[to] = this.seq[from] as number;
    this.slots[to] = this.slots[from] as number;
    this.tags[to] = this.tags[from] as number;
  }

  private set(index: number, at: number, seq: number, slot: number, tag: number): void {
    this.at[index] = at;
    this.seq[index] = seq;
    this.slots[index] = slot;
    this.tags[index] = tag;
  }

  private grow(): void {
    const capacity = this.at.length * 2;
    this.at = widened(this.at, new Float64Array(capacity));
    this.seq = widened(this.seq, new Float64Array(capacity));
    this.slots = widened(this.slots, new Int32Array(capacity));
    this.tags = widened(this.tags, new Uint32Array(capacity));
  }
}

/** `into` (a larger array of the same kind) with `from` copied to its start. */
function widened<T extends Float64Array | Int32Array | Uint32Array>(from: T, into: T): T {
  into.set(from);
  return into;
}
