/**
 * A NETLINK_NETFILTER (protocol 12) socket, opened through netlink@0.3.0's RawNetlinkSocket (its
 * native addon takes any protocol number), used to send nf_tables batches and dumps. Framing and
 * parsing live in netlink-encoding.ts; this file only moves bytes and matches replies to requests.
 * The socket belongs to the network namespace of the process that opens it.
 */

import { constants as osConstants } from 'node:os';
import { requireCjs } from '../cjs.ts';
import { NLM_F_ACK, NLMSG_DONE, NLMSG_ERROR, parseNetlinkError, parseNetlinkMessages, type ReceivedNetlinkMessage } from './netlink-encoding.ts';
import type { BatchMessage } from './nftables-messages.ts';

// netlink's raw socket alone: its index also loads nl80211 and WireGuard tables (~2 MB RSS) the daemon never uses
const { RawNetlinkSocket } = requireCjs('netlink/dist/raw') as Pick<typeof import('netlink'), 'RawNetlinkSocket'>;
type RawNetlinkSocket = import('netlink').RawNetlinkSocket;

const NETLINK_NETFILTER = 12;
const DEFAULT_TIMEOUT_MS = 5000;

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted (needs CAP_NET_ADMIN)',
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
  EINVAL: 'invalid argument',
  EOPNOTSUPP: 'not supported by this kernel (is nf_tables / nft_masq available?)',
  EBUSY: 'resource busy',
  ENOBUFS: 'no buffer space',
};

/** "EOPNOTSUPP (not supported ...)" */
function describeErrno(errno: number): string {
  const name = errnoName(errno);
  const text = ERRNO_TEXT[name];
  return text === undefined ? name : `${name} (${text})`;
}

class NetfilterError extends Error {
  override name = 'NetfilterError';
  constructor(
    message: string,
    readonly errno: number,
    /** Description of the batch message the kernel refused, when known. */
    readonly failedMessage?: string,
  ) {
    super(message);
  }
}

/** Starting point for sequence numbers: distinct per process and per call, never 0. */
let nextSeq = ((Date.now() & 0xffff) << 12) + 1;
export function allocateSeqs(count: number): number {
  const first = nextSeq;
  nextSeq = (nextSeq + count) >>> 0 || 1;
  return first;
}

class NfnetlinkSocket {
  private readonly socket: RawNetlinkSocket;
  private readonly waiters = new Set<(message: ReceivedNetlinkMessage) => void>();
  private closed = false;
  private socketError: Error | null = null;

  constructor() {
    this.socket = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    this.socket.on('message', (datagram: Buffer) => {
      let messages: ReceivedNetlinkMessage[];
      try {
        messages = parseNetlinkMessages(datagram);
      } catch (error) {
        this.socketError = error instanceof Error ? error : new Error(String(error));
        return;
      }
      for (const message of messages) for (const waiter of [...this.waiters]) waiter(message);
    });
    this.socket.on('error', (error) => {
      this.socketError = error;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  private send(bytes: Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(bytes, {}, (error) => (error ? reject(new NetfilterError(`netlink send failed: ${error.message}`, error.errno)) : resolve()));
    });
  }

  /**
   * Sends a whole batch in one datagram (the kernel applies it all or nothing) and waits for an ACK
   * of every message that asked for one. The first error is thrown as one line naming the message.
   */
  async sendBatch(batch: readonly BatchMessage[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const first = batch[0];
    if (first === undefined) return;
    const bySeq = new Map(batch.map((message) => [message.seq, message]));
    // Every message carrying NLM_F_ACK gets an ACK or an error.
    const pending = new Set(batch.filter((message) => wantsAck(message.bytes)).map((message) => message.seq));
    const errors: NetfilterError[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(onMessage);
        reject(
          new NetfilterError(`nf_tables batch: no answer from the kernel within ${timeoutMs} ms (${pending.size} of ${batch.length} messages unanswered)`, 0),
        );
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(onMessage);
        const error = errors[0];
        if (error) reject(error);
        else resolve();
      };
      const onMessage = (message: ReceivedNetlinkMessage): void => {
        if (message.type !== NLMSG_ERROR) return;
        const report = parseNetlinkError(message.payload, message.flags);
        const request = bySeq.get(report.requestSeq);
        if (request === undefined) return;
        if (report.errno !== 0) {
          const detail = report.message ? `: ${report.message}` : '';
          errors.push(
            new NetfilterError(`nf_tables refused ${request.description}: ${describeErrno(report.errno)}${detail}`, report.errno, request.description),
          );
        }
        pending.delete(report.requestSeq);
        // An error on the batch header means the kernel rejected the whole datagram: nothing else comes.
        if (pending.size === 0 || (report.errno !== 0 && report.requestSeq === first.seq)) finish();
      };
      this.waiters.add(onMessage);
    });
    // Attach the waiter before sending so no reply is missed.
    try {
      await this.send(batch.map((message) => message.bytes));
    } catch (error) {
      done.catch(() => undefined);
      throw error;
    }
    await done;
  }

  /** Sends a dump request and returns every reply message up to NLMSG_DONE. */
  async dump(request: Buffer, seq: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ReceivedNetlinkMessage[]> {
    const replies: ReceivedNetlinkMessage[] = [];
    const done = new Promise<ReceivedNetlinkMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(onMessage);
        reject(new NetfilterError(`nf_tables dump: no NLMSG_DONE within ${timeoutMs} ms`, 0));
      }, timeoutMs);
      const onMessage = (message: ReceivedNetlinkMessage): void => {
        if (message.seq !== seq) return;
        if (message.type === NLMSG_DONE || message.type === NLMSG_ERROR) {
          clearTimeout(timer);
          this.waiters.delete(onMessage);
          if (message.type === NLMSG_ERROR) {
            const report = parseNetlinkError(message.payload, message.flags);
            if (report.errno !== 0) {
              reject(new NetfilterError(`nf_tables dump refused: ${describeErrno(report.errno)}`, report.errno));
              return;
            }
          }
          resolve(replies);
          return;
        }
        replies.push(message);
      };
      this.waiters.add(onMessage);
    });
    try {
      await this.send([request]);
    } catch (error) {
      done.catch(() => undefined);
      throw error;
    }
    if (this.socketError) throw this.socketError;
    return done;
  }
}

function wantsAck(message: Buffer): boolean {
  const header = parseNetlinkMessages(message)[0];
  return header !== undefined && (header.flags & NLM_F_ACK) !== 0;
}

/** Opens a socket, runs fn, always closes it. */
export async function withNfnetlinkSocket<T>(fn: (socket: NfnetlinkSocket) => Promise<T>): Promise<T> {
  const socket = new NfnetlinkSocket();
  try {
    return await fn(socket);
  } finally {
    socket.close();
  }
}
