/**
 * A hash map from non-negative integers below 2^53 - 1 (IPv4 addresses, 48-bit MACs) to int32 slot numbers, in two
 * typed arrays with open addressing (linear probing, backward-shift deletion: no tombstones). Against a
 * Map<number, number> it costs about 17 bytes per entry instead of about 40, boxes no key above 2^31 (every MAC),
 * and fills several times faster at start-up; nothing in it is traced by the garbage collector.
 *
 * Cells hold key + 1, so that a fresh (zeroed) array is empty without a pass over it: on the bench machine every
 * newly touched page costs time, and a map for 100 000 entries is 2 MB.
 */
const EMPTY = 0;
const MIN_CAPACITY = 16;
/** Entries per cell at most: probe runs stay short, and the arrays stay smaller than at one half. */
const MAX_LOAD = 0.7;

export class NumberMap {
  /** key + 1 per cell; EMPTY for none. */
  private cells: Float64Array;
  private values: Int32Array;
  private entries = 0;

  /** `expected`: entries it should hold without growing. */
  constructor(expected = 0) {
    const capacity = Math.max(MIN_CAPACITY, Math.ceil(expected / MAX_LOAD) + 1);
    this.cells = new Float64Array(capacity);
    this.values = new Int32Array(capacity);
  }

  get size(): number {
    return this.entries;
  }

  /** undefined for a key never set, and for anything that is not a valid key (negative, NaN). */
  get(key: number): number | undefined {
    if (!(key >= 0)) return undefined;
    const index = this.find(key);
    return this.cells[index] === EMPTY ? undefined : this.values[index];
  }

  /** `key`: an integer in [0, 2^53 - 1); `value`: an int32. */
  set(key: number, value: number): void {
    const index = this.find(NumberMap.checked(key));
    if (this.cells[index] === EMPTY) this.insertAt(index, key, value);
    else this.values[index] = value;
  }

  /** Sets `key` to `value` unless it is there already; returns its existing value, else undefined. */
  setIfAbsent(key: number, value: number): number | undefined {
    const index = this.find(NumberMap.checked(key));
    if (this.cells[index] !== EMPTY) return this.values[index];
    this.insertAt(index, key, value);
    return undefined;
  }

  delete(key: number): boolean {
    if (!(key >= 0)) return false;
    const cells = this.cells;
    const index = this.find(key);
    if (cells[index] === EMPTY) return false;
    // Backward-shift: pull later members of the probe run into the hole when the hole lies on their way home.
    let hole = index;
    for (let next = this.next(hole); ; next = this.next(next)) {
      const moving = cells[next] as number;
      if (moving === EMPTY) break;
      const home = this.home(moving - 1);
      const reachesHole = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (reachesHole) {
        cells[hole] = moving;
        this.values[hole] = this.values[next] as number;
        hole = next;
      }
    }
    cells[hole] = EMPTY;
    this.entries--;
    return true;
  }

  private static checked(key: number): number {
    if (!(key >= 0 && Number.isSafeInteger(key + 1))) throw new RangeError(`NumberMap key ${key} is not an integer in [0, 2^53 - 1)`);
    return key;
  }

  /** The cell holding `key`, or the empty cell that ends its probe run (where it would go). */
  private find(key: number): number {
    const cells = this.cells;
    const cell = key + 1;
    let index = this.home(key);
    for (let found = cells[index] as number; found !== cell && found !== EMPTY; found = cells[index] as number) {
      index = this.next(index);
    }
    return index;
  }

  private insertAt(index: number, key: number, value: number): void {
    this.cells[index] = key + 1;
    this.values[index] = value;
    if (++this.entries > this.cells.length * MAX_LOAD) this.resize(Math.ceil(this.cells.length * 1.5));
  }

  private next(index: number): number {
    return index + 1 === this.cells.length ? 0 : index + 1;
  }

  /** A well-mixed 32-bit hash scaled to the capacity (multiply and shift, not modulo: any capacity will do). */
  private home(key: number): number {
    // Both halves of keys above 2^32 take part (MACs of one vendor differ only in their low bits, addresses too).
    const low = key >>> 0;
    const high = (key - low) / 0x100000000;
    const hash = Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> 0;
    return Math.floor((hash * this.cells.length) / 0x100000000);
  }

  private resize(capacity: number): void {
    const oldCells = this.cells;
    const oldValues = this.values;
    this.cells = new Float64Array(capacity);
    this.values = new Int32Array(capacity);
    for (let i = 0; i < oldCells.length; i++) {
      const cell = oldCells[i] as number;
      if (cell === EMPTY) continue;
      let index = this.home(cell - 1);
      while (this.cells[index] !== EMPTY) index = this.next(index);
      this.cells[index] = cell;
      this.values[index] = oldValues[i] as number;
    }
  }
}
