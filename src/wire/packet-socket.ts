/**
 * An AF_PACKET socket bound to one interface: filtered Ethernet frames in, whole Ethernet frames out.
 * Thin wrapper over the C addon in src/wire/addon/packet_socket.c; see docs/wire.md.
 */
import { asError, errorReporter, loadAddon } from './addon-js.ts';

/** pktType: 0 host, 1 broadcast, 2 multicast, 3 otherhost, 4 outgoing (sll_pkttype). */
export interface ReceivedFrame {
  data: Buffer;
  pktType: number;
  /** The bridge port (ifindex) the frame came in on; 0 when unknown. */
  ifindex: number;
}

export interface PacketSocketOptions {
  ifname: string;
  /** Classic BPF program, see bpf.ts. */
  filter: Buffer;
  /** Called once per socket wakeup with every frame read in it. */
  onFrames: (frames: ReceivedFrame[]) => void;
  /** Receive errors and exceptions thrown by onFrames; console.error when absent. */
  onError?: (err: Error) => void;
  /** Open the socket inside the network namespace /var/run/netns/NAME (for tests; see docs/wire.md). */
  netns?: string;
}

export interface PacketSocketStats {
  /** Frames the filter accepted and the kernel queued for us. */
  received: number;
  /** Frames the filter accepted but the kernel dropped because the receive queue was full. */
  dropped: number;
  /** Frames larger than the receive buffer (MTU + headers), read and discarded by the addon. */
  truncated: number;
}

/** The addon's event callback: an error, or one wakeup's frames packed in `data` with [length, pktType] pairs. */
type NativeEvent = (error: Error | null, data?: Buffer, meta?: Uint32Array) => void;

interface NativeHandle {
  readonly ifindex: number;
  readonly mac: string;
  readonly mtu: number;
  send(frame: Buffer): boolean;
  sendMany(frames: Buffer[]): number;
  stats(): PacketSocketStats;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeAddon {
  PacketSocketHandle: new (ifname: string, filter: Buffer, netns: string | undefined, onEvent: NativeEvent) => NativeHandle;
}

/** Splits one wakeup's packed frames into views on the shared buffer (no copies). */
export function unpackFrames(data: Buffer, meta: Uint32Array): ReceivedFrame[] {
  const frames: ReceivedFrame[] = new Array<ReceivedFrame>(meta.length >>> 1);
  let offset = 0;
  for (let i = 0, j = 0; j + 1 < meta.length; i++, j += 2) {
    const length = meta[j] ?? 0;
    frames[i] = { data: data.subarray(offset, offset + length), pktType: meta[j + 1] ?? 0, ifindex: 0 };
    offset += length;
  }
  return frames;
}

export class PacketSocket {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: string;
  readonly mtu: number;
  readonly #handle: NativeHandle;

  private constructor(ifname: string, handle: NativeHandle) {
    this.ifname = ifname;
    this.#handle = handle;
    this.ifindex = handle.ifindex;
    this.mac = handle.mac;
    this.mtu = handle.mtu;
  }

  /** Opens and binds the socket; throws (e.g. "packet socket on br0: if_nametoindex: No such device") on failure. */
  static open(options: PacketSocketOptions): PacketSocket {
    const { ifname, filter, onFrames, onError, netns } = options;
    if (typeof onFrames !== 'function') throw new TypeError('PacketSocket.open: onFrames must be a function');
    if (onError !== undefined && typeof onError !== 'function') {
      throw new TypeError('PacketSocket.open: onError must be a function when given');
    }
    const report = errorReporter(`packet socket on ${ifname}`, onError);
    // Nothing thrown here may escape into the addon: it would become an uncaught exception.
    const onEvent: NativeEvent = (error, data, meta) => {
      if (error) {
        report(error);
        return;
      }
      if (!data || !meta) return;
      try {
        onFrames(unpackFrames(data, meta));
      } catch (thrown) {
        report(asError(thrown));
      }
    };
    const { PacketSocketHandle } = loadAddon<NativeAddon>('packet_socket');
    return new PacketSocket(ifname, new PacketSocketHandle(ifname, filter, netns, onEvent));
  }

  /** Sends one whole Ethernet frame; false when the kernel queue is full (the frame was not sent). */
  send(frame: Buffer): boolean {
    return this.#handle.send(frame);
  }

  /** Sends frames in order with sendmmsg; returns how many were sent (fewer when the queue fills up). */
  sendMany(frames: Buffer[]): number {
    return this.#handle.sendMany(frames);
  }

  stats(): PacketSocketStats {
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
    this.#handle.close();
  }
}
