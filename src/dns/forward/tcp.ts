// One DNS exchange over TCP (RFC 1035 section 4.2.2: each message preceded by a 2-byte length), used when the
// upstream's UDP answer came back truncated. The answer is reassembled by the server's TcpMessageReader (one buffer
// allocated from its length prefix, linear in the bytes), and a length above the cap is refused before any copy.
import { connect } from 'node:net';
import { TcpMessageReader } from '../tcp-reader.ts';
import type { Upstream } from './upstream.ts';

/** The largest DNS message over TCP: the 2-byte length prefix cannot say more (RFC 1035 section 4.2.2). */
const MAX_TCP_MESSAGE_BYTES = 65_535;
/** A DNS message is at least its 12-byte header. */
const MIN_MESSAGE_BYTES = 12;

function frameTcpMessage(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
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
      reader.push(chunk);
      const message = reader.next();
      if (message === 'too-large') finish(() => reject(new Error(`TCP answer is over the ${maxBytes}-byte cap`)));
      else if (message !== 'incomplete') {
        if (message.length < MIN_MESSAGE_BYTES) finish(() => reject(new Error(`TCP answer of ${message.length} bytes is shorter than a DNS header`)));
        else finish(() => resolve(message));
      }
    });
    socket.on('error', (error) => finish(() => reject(error)));
    socket.on('close', () => finish(() => reject(new Error('TCP connection closed before a whole answer'))));
  });
}
