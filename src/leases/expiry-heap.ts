/** Binary min-heap of (at, seq, value); seq breaks ties so equal times come out in insertion order. */
interface HeapEntry<T> {
  at: number;
  seq: number;
  value: T;
}

function before<T>(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class ExpiryHeap<T> {
  private readonly entries: HeapEntry<T>[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.entries.length;
  }

  push(at: number, value: T): void {
    const entries = this.entries;
    entries.push({ at, seq: this.nextSeq++, value });
    let index = entries.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const child = entries[index] as HeapEntry<T>;
      const up = entries[parent] as HeapEntry<T>;
      if (!before(child, up)) break;
      entries[index] = up;
      entries[parent] = child;
      index = parent;
    }
  }

  peek(): { at: number; value: T } | undefined {
    return this.entries[0];
  }

  pop(): { at: number; value: T } | undefined {
    const entries = this.entries;
    const top = entries[0];
    const last = entries.pop();
    if (top === undefined || last === undefined || entries.length === 0) return top;
    entries[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      const leftEntry = entries[left];
      const rightEntry = entries[right];
      if (leftEntry !== undefined && before(leftEntry, entries[smallest] as HeapEntry<T>)) smallest = left;
      if (rightEntry !== undefined && before(rightEntry, entries[smallest] as HeapEntry<T>)) smallest = right;
      if (smallest === index) break;
      const moved = entries[smallest] as HeapEntry<T>;
      entries[smallest] = entries[index] as HeapEntry<T>;
      entries[index] = moved;
      index = smallest;
    }
    return top;
  }
}
