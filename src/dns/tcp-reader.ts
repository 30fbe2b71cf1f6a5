/**
 * Reassembly of DNS messages from a TCP byte stream (RFC 1035 §4.2.2: a two-byte length, then the message), in linear
 * time: each message's buffer is allocated once, at its announced length, and the bytes of every chunk are copied into
 * it once. Chunks are queued as they arrive and messages are taken out one at a time (`next()`), so the connection can
 * stop taking messages (queries in flight, output backlog) without losing the bytes it already holds. Pure: no sockets,
 * no timers; the connection in server.ts decides what to do with a message, an oversized one or a stalled one.
 */

type NextMessage = Buffer | 'incomplete' | 'too-large';

export class TcpMessageReader {
  /** Chunks received and not yet consumed; `offset` is how much of the first one is consumed. */
  private readonly chunks: Buffer[] = [];
  private offset = 0;
  private queuedBytes = 0;
  /** The length prefix being read (its first byte may arrive alone). */
  private lengthBytes = 0;
  private length = 0;
  /** The message being filled, allocated once at its announced length. */
  private message: Buffer | null = null;
  private filled = 0;
  /** Messages begun so far (a new value means a new message has started: the stall deadline restarts). */
  started = 0;
  /** Message buffers allocated (one per message, whatever the chunking: the linear-time guarantee, tested). */
  allocations = 0;

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
  }

  /** Bytes received and not yet taken into a message. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** True when a message (or its length prefix) has begun and is not complete. */
  get partial(): boolean {
    return this.lengthBytes > 0 || this.queuedBytes > 0;
  }

  /**
   * The next complete message; 'incomplete' when the bytes so far do not finish one; 'too-large' when the announced
   * length exceeds the limit (the stream cannot be resynchronised after that: the caller closes the connection).
   */
  next(): NextMessage {
    if (this.lengthBytes < 2) {
      while (this.lengthBytes < 2) {
        const b = this.takeByte();
        if (b < 0) return 'incomplete';
        if (this.lengthBytes === 0) this.started++;
        this.length = (this.length << 8) | b;
        this.lengthBytes++;
      }
      if (this.length > this.maxMessageBytes) return 'too-large';
      this.allocations++;
      // Its own memory, not a slice of Node's shared pool: a message kept (a query in flight, a cached answer's
      // source) pins only its own bytes.
      this.message = Buffer.allocUnsafeSlow(this.length);
      this.filled = 0;
    }
    const message = this.message as Buffer;
    while (this.filled < this.length) {
      const chunk = this.chunks[0];
      if (chunk === undefined) return 'incomplete';
      const n = Math.min(chunk.length - this.offset, this.length - this.filled);
      chunk.copy(message, this.filled, this.offset, this.offset + n);
      this.filled += n;
      this.consume(chunk, n);
    }
    this.message = null;
    this.lengthBytes = 0;
    this.length = 0;
    return message;
  }

  private takeByte(): number {
    const chunk = this.chunks[0];
    if (chunk === undefined) return -1;
    const b = chunk[this.offset] ?? -1;
    this.consume(chunk, 1);
    return b;
  }

  private consume(chunk: Buffer, n: number): void {
    this.offset += n;
    this.queuedBytes -= n;
    if (this.offset === chunk.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}
