/**
 * The two cursors of the DHCPv6 codec, the only places that move an offset (pg-protocol's buffer-reader/-writer
 * shape). The reader never throws: every read says whether the bytes were there, so the parsers above it check each
 * length once and return a named failure. The writer grows its buffer as it goes (replies are a few hundred bytes).
 */

export class Reader {
  private offset: number;

  constructor(
    private readonly data: Buffer,
    start = 0,
    private readonly end = data.length,
  ) {
    this.offset = start;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  /** One byte, or -1 when none is left. */
  u8(): number {
    if (this.remaining < 1) return -1;
    return this.data[this.offset++] as number;
  }

  /** Two bytes big-endian, or -1 when fewer are left. */
  u16(): number {
    if (this.remaining < 2) return -1;
    const v = this.data.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  /** Four bytes big-endian, or -1 when fewer are left. */
  u32(): number {
    if (this.remaining < 4) return -1;
    const v = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  /** A view (no copy) of the next `length` bytes, or null when fewer are left. */
  bytes(length: number): Buffer | null {
    if (length < 0 || this.remaining < length) return null;
    const v = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
}

export class Writer {
  private buffer: Buffer;
  private offset = 0;

  constructor(initial = 256) {
    this.buffer = Buffer.alloc(initial);
  }

  private ensure(extra: number): void {
    if (this.offset + extra <= this.buffer.length) return;
    const next = Buffer.alloc(Math.max(this.buffer.length * 2, this.offset + extra));
    this.buffer.copy(next, 0, 0, this.offset);
    this.buffer = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buffer[this.offset++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buffer.writeUInt16BE(v & 0xffff, this.offset);
    this.offset += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buffer.writeUInt32BE(v >>> 0, this.offset);
    this.offset += 4;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.ensure(v.length);
    this.buffer.set(v, this.offset);
    this.offset += v.length;
    return this;
  }

  /** One option: code, length, then whatever `body` writes (RFC 8415 §21.1); the length is filled in afterwards. */
  option(code: number, body: (w: this) => void): this {
    this.u16(code);
    const lengthAt = this.offset;
    this.u16(0);
    body(this);
    this.buffer.writeUInt16BE(this.offset - lengthAt - 2, lengthAt);
    return this;
  }

  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.offset));
  }
}
