/**
 * SlotIndex: a hash index from a key (an IPv4 address, a 48-bit MAC, a host name) to the slot of a column store that
 * holds that key in its own columns (the lease table's records, the name index's entries). Each cell holds only a
 * slot (4 bytes); the key is read back from the owner's columns through a SlotKeys adapter, so at 100 000 entries the
 * index costs about 5.5 bytes per entry instead of the 17 of a (key, slot) map and the 30-40 of a Map. Open
 * addressing with linear probing and backward-shift deletion (no tombstones); nothing in it is traced by the garbage
 * collector.
 *
 * The owner's rule: while a slot is in the index, its key must not change (delete it first, then change the key).
 */

/** How an index reads keys: the hash of a key, the hash of the key a slot holds, whether a slot holds a key. */
interface SlotKeys<K> {
  hash(key: K): number;
  hashAt(slot: number): number;
  holds(slot: number, key: K): boolean;
}

const EMPTY = 0;
const MIN_CAPACITY = 16;
/** Entries per cell at most: probe runs stay short while the array stays small. */
const MAX_LOAD = 0.75;

/** A well-mixed 32-bit hash of a non-negative integer below 2^53 (both halves of a MAC take part). */
function hashOfNumber(key: number): number {
  const low = key >>> 0;
  const high = (key - low) / 0x100000000;
  return Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> 0;
}

/** FNV-1a over the UTF-16 code units: host names are short, and a lookup hashes the query's string without copying it. */
export function hashOfText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Keys that are non-negative integers below 2^53 - 1 kept in a column: `keyOf(slot)` reads it. */
export function numberKeys(keyOf: (slot: number) => number): SlotKeys<number> {
  return { hash: hashOfNumber, hashAt: (slot) => hashOfNumber(keyOf(slot)), holds: (slot, key) => keyOf(slot) === key };
}

/** Text keys: `hashAt(slot)` gives hashOfText() of the slot's key (the owner keeps it), `holds` compares. */
export function textKeys(hashAt: (slot: number) => number, holds: (slot: number, key: string) => boolean): SlotKeys<string> {
  return { hash: hashOfText, hashAt, holds };
}

export class SlotIndex<K> {
  /** slot + 1 per cell; EMPTY for none. */
  private cells: Int32Array;
  private entries = 0;

  /** `expected`: entries it holds without growing. */
  constructor(
    private readonly keys: SlotKeys<K>,
    expected = 0,
  ) {
    this.cells = new Int32Array(Math.max(MIN_CAPACITY, Math.ceil(expected / MAX_LOAD) + 1));
  }

  get size(): number {
    return this.entries;
  }

  /** The slot indexed under `key`; -1 when none. */
  get(key: K): number {
    return (this.cells[this.find(key, this.keys.hash(key))] as number) - 1;
  }

  /** Indexes `slot` under `key` (the key it holds), replacing the slot that had that key. */
  set(key: K, slot: number): void {
    const index = this.find(key, this.keys.hash(key));
    if (this.cells[index] === EMPTY) this.insertAt(index, slot);
    else this.cells[index] = slot + 1;
  }

  /** Indexes `slot` under `key` unless that key has a slot already; returns that slot, or -1 when `slot` was added. */
  setIfAbsent(key: K, slot: number): number {
    const index = this.find(key, this.keys.hash(key));
    const found = this.cells[index] as number;
    if (found !== EMPTY) return found - 1;
    this.insertAt(index, slot);
    return -1;
  }

  /** Removes whatever slot is indexed under `key`; false when none was. */
  delete(key: K): boolean {
    const index = this.find(key, this.keys.hash(key));
    if (this.cells[index] === EMPTY) return false;
    this.removeAt(index);
    return true;
  }

  /** Removes `slot` if it is the one indexed under the key it holds; false when it is not in the index. */
  deleteSlot(slot: number): boolean {
    const cells = this.cells;
    let index = this.home(this.keys.hashAt(slot));
    for (let found = cells[index] as number; found !== slot + 1; found = cells[index] as number) {
      if (found === EMPTY) return false;
      index = this.next(index);
    }
    this.removeAt(index);
    return true;
  }

  private removeAt(index: number): void {
    const cells = this.cells;
    // Backward shift: pull later members of the probe run into the hole when the hole lies on their way home.
    let hole = index;
    for (let next = this.next(hole); ; next = this.next(next)) {
      const moving = cells[next] as number;
      if (moving === EMPTY) break;
      const home = this.home(this.keys.hashAt(moving - 1));
      const reachesHole = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (reachesHole) {
        cells[hole] = moving;
        hole = next;
      }
    }
    cells[hole] = EMPTY;
    this.entries--;
  }

  /** The cell holding the slot of `key` (whose hash is `hash`), or the empty cell that ends its probe run. */
  private find(key: K, hash: number): number {
    const cells = this.cells;
    let index = this.home(hash);
    for (let found = cells[index] as number; found !== EMPTY && !this.keys.holds(found - 1, key); found = cells[index] as number) {
      index = this.next(index);
    }
    return index;
  }

  private insertAt(index: number, slot: number): void {
    this.cells[index] = slot + 1;
    if (++this.entries > this.cells.length * MAX_LOAD) this.resize(Math.ceil(this.cells.length * 1.5));
  }

  private next(index: number): number {
    return index + 1 === this.cells.length ? 0 : index + 1;
  }

  /** The hash scaled to the capacity (multiply and shift, not modulo: any capacity will do). */
  private home(hash: number): number {
    return Math.floor(((Math.imul(hash, 0x9e3779b1) >>> 0) * this.cells.length) / 0x100000000);
  }

  private resize(capacity: number): void {
    const old = this.cells;
    this.cells = new Int32Array(capacity);
    for (let i = 0; i < old.length; i++) {
      const cell = old[i] as number;
      if (cell === EMPTY) continue;
      let index = this.home(this.keys.hashAt(cell - 1));
      while (this.cells[index] !== EMPTY) index = this.next(index);
      this.cells[index] = cell;
    }
  }
}
