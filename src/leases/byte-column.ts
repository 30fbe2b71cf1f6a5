/**
 * ByteColumn: one short byte string (or null) per slot of a column store, all kept in one growing buffer with a start
 * and a length per slot: the lease table's host names (UTF-8) and client identifiers (DHCP option 61). A JavaScript
 * string costs 16 bytes of header rounded up to 8 plus the 8-byte reference to it, and the garbage collector traces
 * every one; here a value costs its bytes plus 6. Bytes of replaced values are reclaimed by compacting the buffer once
 * they are more than half of it.
 */

/** The longest value (bytes): DHCP options are at most 255 bytes, so this only stops rows no DHCP client could make. */
export const MAX_VALUE_BYTES = 0xfffe;
const NULL_LENGTH = 0xffff;
/** Text up to this long is written by a loop in JavaScript when it is ASCII (a DNS label is at most 63 bytes). */
const SHORT_TEXT = 64;
/** Replaced bytes below this are left alone: compacting a small buffer gains nothing. */
const MIN_COMPACT_GARBAGE = 64 * 1024;

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

export class ByteColumn {
  private bytes: Buffer;
  private used = 0;
  private garbage = 0;
  private start: Uint32Array;
  private length: Uint16Array;

  /** `slots`: slots to make room for; `bytesPerSlot`: the expected average value length. */
  constructor(slots: number, bytesPerSlot: number) {
    this.bytes = Buffer.alloc(Math.max(256, Math.ceil(slots * bytesPerSlot)));
    this.start = new Uint32Array(slots);
    this.length = new Uint16Array(slots).fill(NULL_LENGTH);
  }

  /** Makes room for slots below `slots` (new ones hold null). */
  growSlots(slots: number): void {
    if (slots <= this.start.length) return;
    const start = new Uint32Array(slots);
    start.set(this.start);
    const length = new Uint16Array(slots).fill(NULL_LENGTH);
    length.set(this.length);
    this.start = start;
    this.length = length;
  }

  isNull(slot: number): boolean {
    return this.length[slot] === NULL_LENGTH;
  }

  /** The value as text (UTF-8), or null. */
  text(slot: number): string | null {
    const length = this.length[slot] as number;
    if (length === NULL_LENGTH) return null;
    const start = this.start[slot] as number;
    return this.bytes.toString('utf8', start, start + length);
  }

  /** Whether the value is `text` (UTF-8), compared in place: no string is made for an ASCII `text`. */
  equalsText(slot: number, text: string): boolean {
    const length = this.length[slot] as number;
    if (length === NULL_LENGTH) return false;
    if (length === text.length) {
      const start = this.start[slot] as number;
      let i = 0;
      for (; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        if (this.bytes[start + i] !== code) return false;
      }
      if (i === length) return true;
    }
    // Not ASCII: the byte length says nothing by itself.
    return !isAscii(text) && this.text(slot) === text;
  }

  /** A copy of the value the caller owns, or null. */
  buffer(slot: number): Buffer | null {
    const length = this.length[slot] as number;
    if (length === NULL_LENGTH) return null;
    const start = this.start[slot] as number;
    return Buffer.from(this.bytes.subarray(start, start + length));
  }

  setNull(slot: number): void {
    this.release(slot);
    this.length[slot] = NULL_LENGTH;
  }

  setText(slot: number, value: string | null): void {
    if (value === null) {
      this.setNull(slot);
      return;
    }
    if (value.length <= SHORT_TEXT && isAscii(value)) {
      // Host names: a loop in JavaScript beats the two calls into C++ (byteLength, write) for a few characters.
      const at = this.reserve(slot, value.length);
      for (let i = 0; i < value.length; i++) this.bytes[at + i] = value.charCodeAt(i);
      return;
    }
    const at = this.reserve(slot, Buffer.byteLength(value, 'utf8'));
    this.bytes.write(value, at, 'utf8');
  }

  /** `hex`: an even number of hex digits (what the stores read client identifiers as). */
  setHex(slot: number, hex: string | null): void {
    if (hex === null) {
      this.setNull(slot);
      return;
    }
    const at = this.reserve(slot, hex.length >>> 1);
    this.bytes.write(hex, at, 'hex');
  }

  setBytes(slot: number, value: Uint8Array | null): void {
    if (value === null) {
      this.setNull(slot);
      return;
    }
    const at = this.reserve(slot, value.length);
    this.bytes.set(value, at);
  }

  /** Frees the slot's old value and returns where `length` new bytes go (their length recorded). */
  private reserve(slot: number, length: number): number {
    if (length > MAX_VALUE_BYTES) throw new RangeError(`a value of ${length} bytes is longer than ${MAX_VALUE_BYTES}`);
    const old = this.length[slot] as number;
    if (old !== NULL_LENGTH && length <= old) {
      // In place: the old value's tail becomes garbage.
      this.garbage += old - length;
      this.length[slot] = length;
      return this.start[slot] as number;
    }
    this.release(slot);
    if (this.garbage > MIN_COMPACT_GARBAGE && this.garbage * 2 > this.used) this.compact();
    if (this.used + length > this.bytes.length) this.growBytes(this.used + length);
    const at = this.used;
    this.used += length;
    this.start[slot] = at;
    this.length[slot] = length;
    return at;
  }

  private release(slot: number): void {
    const old = this.length[slot] as number;
    if (old !== NULL_LENGTH) this.garbage += old;
    this.length[slot] = NULL_LENGTH;
  }

  private growBytes(needed: number): void {
    const bytes = Buffer.alloc(Math.max(needed, Math.ceil(this.bytes.length * 1.5)));
    this.bytes.copy(bytes, 0, 0, this.used);
    this.bytes = bytes;
  }

  /** Copies every live value to the front of a buffer of the same size, in slot order. */
  private compact(): void {
    const bytes = Buffer.alloc(this.bytes.length);
    let used = 0;
    for (let slot = 0; slot < this.start.length; slot++) {
      const length = this.length[slot] as number;
      if (length === NULL_LENGTH) continue;
      const start = this.start[slot] as number;
      this.bytes.copy(bytes, used, start, start + length);
      this.start[slot] = used;
      used += length;
    }
    this.bytes = bytes;
    this.used = used;
    this.garbage = 0;
  }
}
