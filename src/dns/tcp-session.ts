/**
 * One DNS-over-TCP connection (RFC 7766): messages reassembled in linear time (tcp-reader.ts), answered concurrently
 * up to a cap, answers written in completion order. Reading stops while the cap is reached or while the socket's
 * output is above its high-water mark (a client that pipelines and never reads cannot make us buffer without bound),
 * and resumes on completion / 'drain'. A message begun and not finished within a deadline closes the connection
 * (a slow sender cannot hold a slot a byte at a time), as do idleness and an oversized query. Every limit hit is
 * reported to the server, which counts and logs it.
 */
import type { Socket } from 'node:net';
import { TcpMessageReader } from './tcp-reader.ts';

interface TcpSessionLimits {
  maxInFlight: number;
  idleMs: number;
  messageDeadlineMs: number;
  maxQueryBytes: number;
}

export type TcpLimitEvent = 'output-paused' | 'in-flight-paused' | 'message-deadline' | 'query-too-large' | 'idle';

export class TcpSession {
  private readonly reader: TcpMessageReader;
  private inFlight = 0;
  /** Why reading is paused (null: reading). */
  private pausedFor: TcpLimitEvent | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private deadlineFor = -1;
  private pumpScheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly limits: TcpSessionLimits,
    private readonly answer: (query: Buffer) => Promise<Buffer | null>,
    private readonly onLimit: (event: TcpLimitEvent) => void,
  ) {
    this.reader = new TcpMessageReader(limits.maxQueryBytes);
    socket.setTimeout(limits.idleMs, () => this.close('idle'));
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.pump();
    });
    socket.on('drain', () => this.pump());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.clearDeadline());
  }

  /** Takes messages while allowed; pauses reading when not; (re)arms the deadline of a message left unfinished. */
  private pump(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    for (;;) {
      if (this.inFlight >= this.limits.maxInFlight) {
        this.pause('in-flight-paused');
        return;
      }
      if (socket.writableNeedDrain) {
        this.pause('output-paused');
        return;
      }
      const message = this.reader.next();
      if (message === 'incomplete') break;
      if (message === 'too-large') {
        this.close('query-too-large');
        return;
      }
      this.dispatch(message);
    }
    if (this.pausedFor !== null) {
      this.pausedFor = null;
      socket.resume();
    }
    this.armDeadline();
  }

  private dispatch(query: Buffer): void {
    this.inFlight++;
    this.answer(query).then(
      (response) => {
        this.inFlight--;
        if (response !== null && !this.socket.destroyed && this.socket.writable) {
          const framed = Buffer.allocUnsafe(2 + response.length);
          framed.writeUInt16BE(response.length, 0);
          response.copy(framed, 2);
          this.socket.write(framed);
        }
        this.pumpSoon();
      },
      () => this.socket.destroy(),
    );
  }

  /**
   * Takes the next messages on a later turn of the event loop, not in this promise callback: answered from memory, a
   * pipelined backlog would otherwise be answered in one chain of microtasks that never lets UDP or DHCP be polled
   * (the attack test measured 1-3 s stalls under 70 000 pipelined questions).
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pause(event: TcpLimitEvent): void {
    // Not reading is our choice, not the client's stall: no message deadline meanwhile (idleness still applies).
    this.clearDeadline();
    if (this.pausedFor === event) return;
    if (this.pausedFor === null) this.socket.pause();
    this.pausedFor = event;
    this.onLimit(event);
  }

  private armDeadline(): void {
    if (!this.reader.partial) {
      this.clearDeadline();
      return;
    }
    if (this.deadline !== null && this.deadlineFor === this.reader.started) return;
    this.clearDeadline();
    this.deadlineFor = this.reader.started;
    this.deadline = setTimeout(() => this.close('message-deadline'), this.limits.messageDeadlineMs);
    this.deadline.unref();
  }

  private clearDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  }

  private close(event: TcpLimitEvent): void {
    this.clearDeadline();
    if (this.socket.destroyed) return;
    this.onLimit(event);
    this.socket.destroy();
  }
}
