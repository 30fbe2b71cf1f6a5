// One DNS exchange over TCP (RFC 1035 section 4.2.2: each message preceded by a 2-byte length), used when the
// upstream's UDP answer came back truncated. The answer is reassembled in one buffer allocated from its length prefix,
// so a peer sending one byte per segment costs linear time, and a length above the cap is refused before any copy.
import { connect } from 'node:net';
import type { Upstream } from './upstream.ts';

/** The largest DNS message over TCP: the 2-byte length prefix cannot say more (RFC 1035 section 4.2.2). */
export const MAX_TCP_MESSAGE_BYTES = 65_535;
/** A DNS message is at least its 12-byte header. */
const MIN_MESSAGE_BYTES = 12;

export function frameTcpMessage(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
}

/** The first complete message in `received`, or undefined if more bytes are needed. */
export function firstTcpMessage(received: Buffer): Buffer | undefined {
  if (received.length < 2) return undefined;
  const length = received.readUInt16BE(0);
  return received.length >= 2 + length ? received.subarray(2, 2 + length) : undefined;
}

/**
 * Reads one length-prefixed message from a stream of chunks. push() returns the whole message once it is complete
 * (a buffer of exactly its length, owning its memory), undefined while more bytes are needed, or an Error when the
 * length is out of bounds. Bytes after the message are ignored (we ask one question per connection).
 */
export class TcpMessageReader {
  private readonly prefix = Buffer.alloc(2);
  private prefixFilled = 0;
  private message: Buffer | null = null;
  private filled = 0;

  constructor(private readonly maxBytes = MAX_TCP_MESSAGE_BYTES) {}

  push(chunk: Buffer): Buffer | Error | undefined {
    let at = 0;
    if (this.message === null) {
      while (this.prefixFilled < 2 && at < chunk.length) this.prefix[this.prefixFilled++] = chunk[at++] as number;
      if (this.prefixFilled < 2) return undefined;
      const length = this.prefix.readUInt16BE(0);
      if (length < MIN_MESSAGE_BYTES) return new Error(`TCP answer of ${length} bytes is shorter than a DNS header`);
      if (length > this.maxBytes) return new Error(`TCP answer of ${length} bytes is over the ${this.maxBytes}-byte cap`);
      this.message = Buffer.allocUnsafeSlow(length);
    }
    const copied = chunk.copy(this.message, this.filled, at, Math.min(chunk.length, at + this.message.length - this.filled));
    this.filled += copied;
    return this.filled === this.message.length ? this.message : undefined;
  }
}

/**
 * Sends `query` to the upstream over a fresh TCP connection and resolves with the first message it sends back;
 * rejects on connection errors, on close before a whole message, on a length over `maxBytes`, or after timeoutMs.
 * Checking that the message answers the query is the caller's job.
 */
export function exchangeOverTcp(upstream: Upstream, query: Buffer, timeoutMs: number, maxBytes = MAX_TCP_MESSAGE_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.address, port: upstream.port, family: upstream.family });
    const reader = new TcpMessageReader(maxBytes);
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`TCP query timed out after ${timeoutMs} ms`))), timeoutMs);
    socket.on('connect', () => socket.write(frameTcpMessage(query)));
    socket.on('data', (chunk: Buffer) => {
      const message = reader.push(chunk);
      if (message instanceof Error) finish(() => reject(message));
      else if (message !== undefined) finish(() => resolve(message));
    });
    socket.on('error', (error) => finish(() => reject(error)));
    socket.on('close', () => finish(() => reject(new Error('TCP connection closed before a whole answer'))));
  });
}
