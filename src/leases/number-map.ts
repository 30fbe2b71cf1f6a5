/**
 * A hash map from non-negative integers below 2^53 (IPv4 addresses, 48-bit MACs) to slot numbers, in two typed
 * arrays with open addressing (linear probing, backward-shift deletion: no tombstones). Against a Map<number, number>
 * it costs 24 bytes per entry or less instead of about 40, boxes no key above 2^31 (every MAC), and fills several
 * times faster at start-up; nothing in it is traced by the garbage collector.
 */
const EMPTY = -1;
const MIN_CAPACITY = 16;

export class NumberMap {
  private keys: Float64Array;
  private values: Int32Array;
  private mask: number;
  /** 32 - log2(capacity): home() keeps the top bits of a multiplicative hash. */
  private shift: number;
  private entries = 0;

  /** `expected`: entries it should hold without growing. */
  constructor(expected = 0) {
    let capacity = MIN_CAPACITY;
    while (capacity < expected * 2) capacity *= 2;
    this.keys = new Float64Array(capacity).fill(EMPTY);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.shift = 32 - Math.log2(capacity);
  }

  get size(): number {
    return this.entries;
  }

  /** undefined for a key never set, and for anything that is not a valid key (negative, NaN). */
  get(key: number): number | undefined {
    if (!(key >= 0)) return undefined;
    const keys = this.keys;
    for (let index = this.home(key); ; index = (index + 1) & this.mask) {
      const found = keys[index] as number;
      if (found === key) return this.values[index];
      if (found === EMPTY) return undefined;
    }
  }

  /** `key`: an integer in [0, 2^53); `value`: an int32. */
  set(key: number, value: number): void {
    if (!(key >= 0 && Number.isSafeInteger(key))) throw new RangeError(`NumberMap key ${key} is not an integer in [0, 2^53)`);
    const keys = this.keys;
    let index = this.home(key);
    for (; ; index = (index + 1) & this.mask) {
      const found = keys[index] as number;
      if (found === key) {
        this.values[index] = value;
        return;
      }
      if (found === EMPTY) break;
    }
    keys[index] = key;
    this.values[index] = value;
    // Kept at most half full: probe runs stay short.
    if (++this.entries * 2 > keys.length) this.resize(keys.length * 2);
  }

  delete(key: number): boolean {
    if (!(key >= 0)) return false;
    const keys = this.keys;
    const mask = this.mask;
    let index = this.home(key);
    for (; ; index = (index + 1) & mask) {
      const found = keys[index] as number;
      if (found === key) break;
      if (found === EMPTY) return false;
    }
    // Backward-shift: pull later members of the probe run into the hole when the hole lies on their way home.
    let hole = index;
    for (let next = (hole + 1) & mask; ; next = (next + 1) & mask) {
      const moving = keys[next] as number;
      if (moving === EMPTY) break;
      const home = this.home(moving);
      const reachesHole = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (reachesHole) {
        keys[hole] = moving;
        this.values[hole] = this.values[next] as number;
        hole = next;
      }
    }
    keys[hole] = EMPTY;
    this.entries--;
    return true;
  }

  private home(key: number): number {
    // Both halves of keys above 2^32 take part (MACs of one vendor differ only in their low bits, addresses too).
    const low = key >>> 0;
    const high = (key - low) / 0x100000000;
    return Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
  }

  private resize(capacity: number): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(capacity).fill(EMPTY);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.shift = 32 - Math.log2(capacity);
    for (let i = 0; i < oldKeys.length; i++) {
      const key = oldKeys[i] as number;
      if (key === EMPTY) continue;
      let index = this.home(key);
      while (this.keys[index] !== EMPTY) index = (index + 1) & this.mask;
      this.keys[index] = key;
      this.values[index] = oldValues[i] as number;
    }
  }
}
