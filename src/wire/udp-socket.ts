/**
 * An IPv4 UDP socket that receives and sends in batches: every readiness wakeup reads up to 256 datagrams with
 * recvmmsg and hands them to JS in one call; answers written into a shared send area go out with one sendmmsg.
 * Thin wrapper over the C addon in src/wire/addon/udp_socket.c; see docs/wire.md.
 */
import { asError, errorReporter, loadAddon } from './addon-js.ts';

interface UdpSocketOptions {
  /** IPv4 address to bind, dotted. */
  address: string;
  /** Port to bind; 0 lets the kernel choose (see `port`). */
  port: number;
  /**
   * Called once per wakeup with the datagrams read in it. The batch and the bytes it points to are reused by the next
   * wakeup: copy what must outlive the call.
   */
  onDatagrams: (batch: ReceivedDatagrams) => void;
  /** Receive errors and exceptions thrown by onDatagrams; console.error when absent. */
  onError?: (err: Error) => void;
  /** Open the socket inside the network namespace /var/run/netns/NAME (for tests; see docs/wire.md). */
  netns?: string;
  /**
   * Receive nothing: a socket filter drops every datagram in the kernel before it is queued, so the socket only holds
   * its address and port (and the kernel answers no ICMP port unreachable for them); onDatagrams is never called.
   */
  discard?: boolean;
}

export interface UdpSocketStats {
  /** Datagrams read from the kernel (truncated ones included). */
  received: number;
  /** Datagrams larger than a receive slot (4096 bytes): read, counted and dropped. */
  truncated: number;
  receiveErrors: number;
  /** Datagrams the kernel dropped because our receive queue was full (SO_RXQ_OVFL; a 32-bit running total). */
  kernelDrops: number;
  sent: number;
  /** Datagrams the kernel refused (bad destination port or address, firewall...): counted and skipped. */
  sendErrors: number;
  /** Datagrams not sent because the send queue was full. */
  sendDropped: number;
  /** Datagrams sent as segments of a UDP_SEGMENT (GSO) send, i.e. together with others to the same peer. */
  coalesced: number;
  /** errno name of the last send error, e.g. 'EINVAL'; null if none yet. */
  lastSendError: string | null;
}

/** Words per datagram in the meta arrays: [offset, length, IPv4 address as an unsigned number, port]. */
const META_WORDS = 4;

/**
 * One wakeup's datagrams, as views on the socket's receive area: datagram i is `data[offset(i), offset(i) +
 * length(i))`, from `address(i)` (IPv4 as an unsigned 32-bit number) and `port(i)`.
 */
export class ReceivedDatagrams {
  count = 0;
  constructor(
    readonly data: Buffer,
    private readonly meta: Uint32Array,
  ) {}
  offset(i: number): number {
    return this.meta[i * META_WORDS] as number;
  }
  length(i: number): number {
    return this.meta[i * META_WORDS + 1] as number;
  }
  address(i: number): number {
    return this.meta[i * META_WORDS + 2] as number;
  }
  port(i: number): number {
    return this.meta[i * META_WORDS + 3] as number;
  }
}

/**
 * Datagrams to send together: write each payload into `area` at `used`, then `add()` it. `flush()` (or the socket's
 * `sendQueued`) sends everything added so far in one sendmmsg.
 */
class OutgoingDatagrams {
  count = 0;
  /** Bytes of `area` taken by the datagrams added since the last flush. */
  used = 0;
  constructor(
    readonly area: Buffer,
    private readonly meta: Uint32Array,
    readonly capacity: number,
    private readonly send: (count: number) => number,
  ) {}

  /** Room left in the area and in the meta array; flush first when a datagram of `bytes` may not fit. */
  hasRoom(bytes: number): boolean {
    return this.count < this.capacity && this.used + bytes <= this.area.length;
  }

  /** Queues the `length` bytes just written at `used` for `address`:`port`. */
  add(length: number, address: number, port: number): void {
    const at = this.count * META_WORDS;
    this.meta[at] = this.used;
    this.meta[at + 1] = length;
    this.meta[at + 2] = address;
    this.meta[at + 3] = port;
    this.count++;
    this.used += length;
  }

  /** Sends what was added; returns how many left (see UdpSocketStats for what happens to the others). */
  flush(): number {
    if (this.count === 0) return 0;
    const count = this.count;
    this.count = 0;
    this.used = 0;
    return this.send(count);
  }
}

/** The addon's event callback: an error, or the number of datagrams of this wakeup in the receive meta array. */
type NativeEvent = (error: Error | null, count?: number) => void;

interface NativeHandle {
  readonly port: number;
  readonly receiveCapacity: number;
  readonly sendCapacity: number;
  readonly receiveArea: ArrayBuffer;
  readonly receiveMeta: ArrayBuffer;
  readonly sendArea: ArrayBuffer;
  readonly sendMeta: ArrayBuffer;
  sendQueued(count: number): number;
  send(data: Buffer, address: number, port: number): boolean;
  stats(): UdpSocketStats;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeAddon {
  UdpSocketHandle: new (address: string, port: number, netns: string | undefined, onEvent: NativeEvent, discard: boolean) => NativeHandle;
}

export class UdpSocket {
  /** The bound port (the kernel's choice when opened with port 0). */
  readonly port: number;
  readonly address: string;
  /** Where answers are queued; sent by `outgoing.flush()`. */
  readonly outgoing: OutgoingDatagrams;
  readonly #handle: NativeHandle;
  #closed = false;

  private constructor(address: string, handle: NativeHandle) {
    this.address = address;
    this.#handle = handle;
    this.port = handle.port;
    this.outgoing = new OutgoingDatagrams(Buffer.from(handle.sendArea), new Uint32Array(handle.sendMeta), handle.sendCapacity, (count) =>
      this.#closed ? 0 : handle.sendQueued(count),
    );
  }

  /** Opens and binds; throws e.g. "udp socket on 10.0.0.1 port 53: bind: Address already in use" (code EADDRINUSE). */
  static open(options: UdpSocketOptions): UdpSocket {
    const { address, port, onDatagrams, onError, netns, discard = false } = options;
    if (typeof onDatagrams !== 'function') throw new TypeError('UdpSocket.open: onDatagrams must be a function');
    if (onError !== undefined && typeof onError !== 'function') {
      throw new TypeError('UdpSocket.open: onError must be a function when given');
    }
    const report = errorReporter(`udp socket on ${address}`, onError);
    let batch: ReceivedDatagrams | null = null;
    // Nothing thrown here may escape into the addon: it would become an uncaught exception.
    const onEvent: NativeEvent = (error, count) => {
      if (error) {
        report(error);
        return;
      }
      if (batch === null || count === undefined) return;
      batch.count = count;
      try {
        onDatagrams(batch);
      } catch (thrown) {
        report(asError(thrown));
      }
    };
    const { UdpSocketHandle } = loadAddon<NativeAddon>('udp_socket');
    const handle = new UdpSocketHandle(address, port, netns, onEvent, discard);
    batch = new ReceivedDatagrams(Buffer.from(handle.receiveArea), new Uint32Array(handle.receiveMeta));
    return new UdpSocket(address, handle);
  }

  /** Sends one datagram now; false when it could not go (counted in stats()). */
  send(data: Buffer, address: number, port: number): boolean {
    if (this.#closed) return false;
    return this.#handle.send(data, address, port);
  }

  stats(): UdpSocketStats {
    return this.#handle.stats();
  }

  /** Keep the event loop alive while the socket is open (the default). */
  ref(): void {
    this.#handle.ref();
  }

  /** Let the process exit even though the socket is open. */
  unref(): void {
    this.#handle.unref();
  }

  /** Stops receiving and closes the socket; safe to call more than once. */
  close(): void {
    this.#closed = true;
    this.#handle.close();
  }
}
