/**
 * An AF_PACKET socket on one interface: filtered Ethernet frames in, whole Ethernet frames out. Bound to the interface,
 * or (`bridgePorts: true`) receiving on every interface of its namespace so that each frame names the bridge port it
 * came in on, and sending on the bridge. Thin wrapper over the C addon in src/wire/addon/packet_socket.c; see
 * docs/wire.md.
 */
import { performance } from 'node:perf_hooks';
import { asError, errorReporter, loadAddon } from './addon-js.ts';
import { BridgePortCache } from './bridge-ports.ts';

/** pktType: 0 host, 1 broadcast, 2 multicast, 3 otherhost, 4 outgoing (sll_pkttype). */
export interface ReceivedFrame {
  data: Buffer;
  pktType: number;
  /** The interface the frame came in on (sll_ifindex): with `bridgePorts`, the bridge port; 0 when unknown. */
  ifindex: number;
}

/** The interface as the kernel describes it now (`link()`). */
export interface LinkState {
  ifindex: number;
  mtu: number;
  up: boolean;
}

interface PacketSocketOptions {
  ifname: string;
  /**
   * Classic BPF program, see bpf.ts; or a function of the interface's ifindex (resolved in the socket's namespace)
   * that builds it, for programs that name the interface.
   */
  filter: Buffer | ((ifindex: number) => Buffer);
  /**
   * Receive on every interface of the namespace instead of `ifname` alone, so that a frame reaching a bridge reports
   * the port it came in on (`ReceivedFrame.ifindex`); frames are still sent on `ifname`. The filter must then reject
   * what arrives on `ifname` itself (`dhcpBridgePortFilter`), or each frame is seen twice.
   */
  bridgePorts?: boolean;
  /** Called once per socket wakeup with every frame read in it. */
  onFrames: (frames: ReceivedFrame[]) => void;
  /** Receive errors and exceptions thrown by onFrames; console.error when absent. */
  onError?: (err: Error) => void;
  /** Open the socket inside the network namespace /var/run/netns/NAME (for tests; see docs/wire.md). */
  netns?: string;
}

interface PacketSocketStats {
  /** Frames the filter accepted and the kernel queued for us. */
  received: number;
  /** Frames the filter accepted but the kernel dropped because the receive queue was full. */
  dropped: number;
  /** Frames larger than the receive buffer (MTU + headers), read and discarded by the addon. */
  truncated: number;
}

/** Values per frame in the addon's meta array: length, sll_pkttype, sll_ifindex. */
export const META_PER_FRAME = 3;

/** The addon's event callback: an error, or one wakeup's frames packed in `data` with [length, pktType, ifindex]. */
type NativeEvent = (error: Error | null, data?: Buffer, meta?: Uint32Array) => void;

interface NativeHandle {
  readonly ifindex: number;
  readonly mac: string;
  readonly mtu: number;
  send(frame: Buffer): boolean;
  sendMany(frames: Buffer[]): number;
  stats(): PacketSocketStats;
  bridgePorts(): number[];
  isPort(ifindex: number): boolean;
  link(): LinkState | null;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeAddon {
  PacketSocketHandle: new (
    ifname: string,
    filter: Buffer | ((ifindex: number) => Buffer),
    netns: string | undefined,
    onEvent: NativeEvent,
    allInterfaces: boolean,
  ) => NativeHandle;
}

/** Splits one wakeup's packed frames into views on the shared buffer (no copies). */
export function unpackFrames(data: Buffer, meta: Uint32Array): ReceivedFrame[] {
  const count = Math.floor(meta.length / META_PER_FRAME);
  const frames: ReceivedFrame[] = new Array<ReceivedFrame>(count);
  let offset = 0;
  for (let i = 0, j = 0; i < count; i++, j += META_PER_FRAME) {
    const length = meta[j] ?? 0;
    frames[i] = { data: data.subarray(offset, offset + length), pktType: meta[j + 1] ?? 0, ifindex: meta[j + 2] ?? 0 };
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
  #closed = false;
  /** Port membership, for a socket opened with `bridgePorts`. */
  readonly #ports: BridgePortCache | null;

  private constructor(ifname: string, handle: NativeHandle, bridgePorts: boolean, report: (err: Error) => void) {
    this.ifname = ifname;
    this.#handle = handle;
    this.ifindex = handle.ifindex;
    this.mac = handle.mac;
    this.mtu = handle.mtu;
    this.#ports = bridgePorts
      ? new BridgePortCache({
          query: () => handle.bridgePorts(),
          queryOne: (port) => handle.isPort(port),
          now: () => performance.now(),
          onError: report,
        })
      : null;
  }

  /** Opens and binds the socket; throws (e.g. "packet socket on br0: if_nametoindex: No such device") on failure. */
  static open(options: PacketSocketOptions): PacketSocket {
    const { ifname, filter, onFrames, onError, netns, bridgePorts = false } = options;
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
    return new PacketSocket(ifname, new PacketSocketHandle(ifname, filter, netns, onEvent, bridgePorts), bridgePorts, report);
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

  /**
   * The ifindexes of the interfaces whose master is this socket's interface (the bridge's ports), asked of the kernel
   * now through rtnetlink in the socket's namespace (a synchronous dump, tens of microseconds): cache the answer.
   * Only for a socket opened with `bridgePorts` (which holds the netlink socket); throws otherwise.
   */
  bridgePorts(): number[] {
    return this.#handle.bridgePorts();
  }

  /**
   * Asks the kernel now whether `ifindex` is a forwarding port of this socket's interface (one RTM_GETLINK, about
   * 12 µs whatever the number of ports). Only for a socket opened with `bridgePorts`; use isBridgePort() per frame.
   */
  isPort(ifindex: number): boolean {
    return this.#handle.isPort(ifindex);
  }

  /**
   * True when `ifindex` is a port of this socket's bridge now: from a cache that asks the kernel again, rate-limited,
   * when an unknown ifindex appears or the answer is old (src/wire/bridge-ports.ts). Always false for a socket opened
   * without `bridgePorts`, and after close().
   */
  isBridgePort(ifindex: number): boolean {
    // After close() the query would fail (ERR_SOCKET_CLOSED) and be reported at every call.
    return this.#ports !== null && !this.#closed && this.#ports.has(ifindex);
  }

  /**
   * `ifname` as the kernel has it now (a new ifindex when it was deleted and re-created), or null when absent. Only
   * for a socket opened with `bridgePorts`.
   */
  link(): LinkState | null {
    return this.#handle.link();
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
