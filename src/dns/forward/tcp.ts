// One DNS exchange over TCP (RFC 1035 section 4.2.2: each message preceded by a 2-byte length),
// used when the upstream's UDP answer came back truncated.
import { connect } from 'node:net';
import type { Upstream } from './upstream.ts';

export function frameTcpMessage(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length, 0);
  return Buffer.concat([length, message]);
}

/** The first complete message in `received`, or undefined if more bytes are needed. */
export function firstTcpMessage(received: Buffer): Buffer | undefined {
  if (received.length < 2) return undefined;
  const length = received.readUInt16BE(0);
  return received.length >= 2 + length ? received.subarray(2, 2 + length) : undefined;
}

/**
 * Sends `query` to the upstream over a fresh TCP connection and resolves with the first message it
 * sends back; rejects on connection errors, on close before a whole message, or after timeoutMs.
 * Checking that the message answers the query is the caller's job.
 */
export function exchangeOverTcp(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.address, port: upstream.port, family: upstream.family });
    let received = Buffer.alloc(0);
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
      received = Buffer.concat([received, chunk]);
      const message = firstTcpMessage(received);
      if (message !== undefined) finish(() => resolve(Buffer.from(message)));
    });
    socket.on('error', (error) => finish(() => reject(error)));
    socket.on('close', () => finish(() => reject(new Error('TCP connection closed before a whole answer'))));
  });
}
