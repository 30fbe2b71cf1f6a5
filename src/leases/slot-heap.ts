/**
 * SlotHeap: a min-heap of the lease table's slots ordered by a time the table keeps in its own column (`keyOf`), with
 * each slot's place in the heap remembered, so a slot whose time changes moves in place and a slot that no longer
 * holds its address leaves at once. Against a heap of (time, slot, version) entries with stale entries skipped on
 * the way out, it costs 8 bytes per slot instead of 24 per entry, and it never holds more than one entry per slot
 * (renewals at half the lease time kept about two entries per lease in the other). Ties come out lowest slot first.
 */

export class SlotHeap {
  /** The heap: slots, earliest at 0. */
  private heap: Int32Array;
  /** Per slot: its index in `heap` + 1; 0 when it is not in the heap. */
  private position: Int32Array;
  private length = 0;

  /** `keyOf(slot)`: the slot's time, read from the owner's column; it must change only through update(). */
  constructor(
    private readonly keyOf: (slot: number) => number,
    capacity = 64,
  ) {
    this.heap = new Int32Array(Math.max(16, capacity));
    this.position = new Int32Array(Math.max(16, capacity));
  }

  get size(): number {
    return this.length;
  }

  /** The slot with the earliest time; -1 when empty. */
  peek(): number {
    return this.length === 0 ? -1 : (this.heap[0] as number);
  }

  has(slot: number): boolean {
    return slot < this.position.length && this.position[slot] !== 0;
  }

  /** Puts `slot` in the heap, or moves it to its place after its time changed. */
  update(slot: number): void {
    if (!this.has(slot)) {
      this.append(slot);
      this.siftUp(this.length - 1);
      return;
    }
    const index = (this.position[slot] as number) - 1;
    this.siftUp(index);
    this.siftDown(index);
  }

  /** Takes `slot` out of the heap; no-op when it is not in it. */
  remove(slot: number): void {
    if (!this.has(slot)) return;
    const index = (this.position[slot] as number) - 1;
    this.position[slot] = 0;
    const last = --this.length;
    if (index === last) return;
    this.place(this.heap[last] as number, index);
    this.siftUp(index);
    this.siftDown(index);
  }

  /**
   * Adds a slot without ordering (loading many at once); heapify() must run before the next peek(), update() or
   * remove(). n appends and one heapify cost O(n), n updates O(n log n).
   */
  append(slot: number): void {
    if (this.length === this.heap.length) this.heap = widened(this.heap, this.heap.length * 2);
    if (slot >= this.position.length) this.position = widened(this.position, Math.max(slot + 1, this.position.length * 2));
    this.place(slot, this.length++);
  }

  heapify(): void {
    for (let index = (this.length >> 1) - 1; index >= 0; index--) this.siftDown(index);
  }

  private before(a: number, b: number): boolean {
    const keyA = this.keyOf(a);
    const keyB = this.keyOf(b);
    return keyA < keyB || (keyA === keyB && a < b);
  }

  private place(slot: number, index: number): void {
    this.heap[index] = slot;
    this.position[slot] = index + 1;
  }

  private siftUp(start: number): void {
    const slot = this.heap[start] as number;
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentSlot = this.heap[parent] as number;
      if (!this.before(slot, parentSlot)) break;
      this.place(parentSlot, index);
      index = parent;
    }
    this.place(slot, index);
  }

  private siftDown(start: number): void {
    const slot = this.heap[start] as number;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= this.length) break;
      const right = left + 1;
      let child = left;
      if (right < this.length && this.before(this.heap[right] as number, this.heap[left] as number)) child = right;
      const childSlot = this.heap[child] as number;
      if (!this.before(childSlot, slot)) break;
      this.place(childSlot, index);
      index = child;
    }
    this.place(slot, index);
  }
}

/** A larger copy of `from` (its values at the start, zeros after). */
function widened(from: Int32Array, capacity: number): Int32Array {
  const into = new Int32Array(capacity);
  into.set(from);
  return into;
}
