/**
 * The bridge's IPv6 frame port: one AF_PACKET socket on every interface of the namespace (PacketSocket `bridgePorts`)
 * with ipv6BridgePortFilter, so that each router solicitation and each DHCPv6 datagram to port 547 arrives once, on
 * the bridge port it came in by; whole frames (built by src/wire/frame6.ts) go out on the bridge. It dispatches by
 * kind to two callbacks with the ingress port and the frame's source MAC, and knows nothing else of RA or DHCPv6.
 * The IPv4 twin is BridgePort in src/dhcp/transport.ts.
 */
import type { Logger, RateLimitedCounter } from '../log.ts';
import { type Ipv6FrameKinds, ipv6BridgePortFilter } from './bpf.ts';
import { type Icmpv6Packet, NEXT_HEADER_ICMPV6, parseIpv6Frame, type Udp6Packet } from './frame6.ts';
import { type LinkState, PacketSocket, type ReceivedFrame } from './packet-socket.ts';

const PACKET_OUTGOING = 4;
/** RFC 4861 §4.1. */
const ICMPV6_ROUTER_SOLICITATION = 133;
/** RFC 8415 §7.2. */
const DHCPV6_SERVER_PORT = 547;

/** Where a frame came from, as the wire says: the bridge port it entered by and its Ethernet source. */
export interface Ipv6Ingress {
  /** ifindex of the bridge port (the container's veth end on the bridge). */
  port: number;
  srcMac: string;
}

/** What the port needs of its socket: a PacketSocket on the bridge, unless the options give another (tests). */
interface Ipv6FrameSocket {
  readonly mac: string;
  readonly mtu: number;
  readonly ifindex?: number;
  send(frame: Buffer): boolean;
  isBridgePort(ifindex: number): boolean;
  link?(): LinkState | null;
  close(): void;
}

interface Ipv6PortOptions {
  bridge: string;
  /** Open the socket inside the network namespace /var/run/netns/NAME (tests; see PacketSocketOptions.netns). */
  netns?: string;
  /**
   * A router solicitation (ICMPv6 type 133, not yet validated: RFC 4861 §6.1.1 is the RA code's). `message` and
   * `payload` below are views on the socket's receive buffer, valid during the call only: copy what you keep.
   */
  onRouterSolicitation: (packet: Icmpv6Packet, from: Ipv6Ingress) => void;
  /** A UDP datagram to port 547. */
  onDhcp6: (packet: Udp6Packet, from: Ipv6Ingress) => void;
  /** Called after each socket wakeup's frames were dispatched (a DHCPv6 server commits its batch here). */
  onWakeupEnd?: () => void;
  drops: RateLimitedCounter;
  log: Logger;
  /** Told about every frame dropped here or not sent, by reason (metrics). */
  onDrop?: (reason: string) => void;
  /** Opens the socket instead of a packet socket on `bridge` (unit tests). */
  openSocket?: (onFrames: (frames: ReceivedFrame[]) => void) => Ipv6FrameSocket;
}

export class Ipv6Port {
  #socket: Ipv6FrameSocket;
  /**
   * Router solicitations have a socket of their own (null with an injected socket): behind a DHCPv6 flood in one
   * receive queue an RS waited for the whole backlog (bench/ra-latency.ts against the daemon at 1000 Solicits/s: RA p99
   * 55-305 ms); in their own queue they wait at most for the DHCPv6 batch being handled.
   */
  #rsSocket: Ipv6FrameSocket | null;
  #closed = false;

  /** Throws when the packet sockets cannot be opened (no such interface, no CAP_NET_RAW). */
  constructor(private readonly o: Ipv6PortOptions) {
    this.#socket = this.#open(this.o.openSocket ? 'both' : 'dhcp6');
    try {
      this.#rsSocket = this.o.openSocket ? null : this.#open('router-solicitation');
    } catch (e) {
      this.#socket.close();
      throw e;
    }
  }

  get bridge(): string {
    return this.o.bridge;
  }

  /** The bridge's MAC (the Ethernet source of what we send; changes when the bridge is re-created). */
  get mac(): string {
    return this.#socket.mac;
  }

  get mtu(): number {
    return this.#socket.mtu;
  }

  /** The bridge's ifindex when the socket was opened (0 for an injected socket). */
  get ifindex(): number {
    return this.#socket.ifindex ?? 0;
  }

  #open(kinds: Ipv6FrameKinds): Ipv6FrameSocket {
    const onFrames = (frames: ReceivedFrame[]): void => this.#onFrames(frames);
    if (this.o.openSocket) return this.o.openSocket(onFrames);
    return PacketSocket.open({
      ifname: this.o.bridge,
      filter: (ifindex) => ipv6BridgePortFilter(ifindex, kinds),
      bridgePorts: true,
      onFrames,
      onError: (e) => this.o.log.error(`IPv6 packet socket: ${e.message}`),
      ...(this.o.netns !== undefined ? { netns: this.o.netns } : {}),
    });
  }

  #drop(reason: string, detail: string): void {
    this.o.onDrop?.(reason);
    if (this.o.drops.hit(reason)) this.o.log.warn(`dropped IPv6 frame: ${reason}: ${detail}`);
  }

  #onFrames(frames: ReceivedFrame[]): void {
    if (this.#closed) return;
    for (const frame of frames) {
      try {
        this.#dispatch(frame);
      } catch (e) {
        this.#drop('internal-error', (e as Error).stack ?? String(e));
      }
    }
    try {
      this.o.onWakeupEnd?.();
    } catch (e) {
      this.#drop('internal-error', (e as Error).stack ?? String(e));
    }
  }

  #dispatch(frame: ReceivedFrame): void {
    if (frame.pktType === PACKET_OUTGOING) return;
    // As for DHCPv4: what did not come in through a port of our bridge (the uplink's LAN) is not ours to answer.
    if (!this.#socket.isBridgePort(frame.ifindex)) {
      this.o.onDrop?.('not-bridge-port');
      if (this.o.log.enabled('debug')) this.o.log.debug(`ignored: IPv6 frame on ifindex ${frame.ifindex}, not a port of ${this.o.bridge}`);
      return;
    }
    const parsed = parseIpv6Frame(frame.data);
    if (!parsed.ok) {
      this.#drop(parsed.reason, parsed.detail);
      return;
    }
    const packet = parsed.packet;
    const from: Ipv6Ingress = { port: frame.ifindex, srcMac: packet.srcMac };
    if (packet.nextHeader === NEXT_HEADER_ICMPV6) {
      if (packet.message[0] === ICMPV6_ROUTER_SOLICITATION) this.o.onRouterSolicitation(packet, from);
      else this.#drop('unexpected-icmpv6', `type ${packet.message[0]} from ${packet.srcMac}`);
    } else if (packet.dstPort === DHCPV6_SERVER_PORT) {
      this.o.onDhcp6(packet, from);
    } else {
      this.#drop('unexpected-udp6', `port ${packet.dstPort} from ${packet.srcMac}`);
    }
  }

  /** Sends one whole frame on the bridge; false (counted) when it was not sent. Never throws. */
  send(frame: Buffer): boolean {
    if (this.#closed) return false;
    try {
      if (this.#socket.send(frame)) return true;
      this.#drop('send-queue-full', `${frame.length}-byte frame not sent`);
    } catch (e) {
      this.#drop('send-error', `${(e as NodeJS.ErrnoException).code ?? 'error'}: ${(e as Error).message}`);
    }
    return false;
  }

  /**
   * Reopens the socket when the bridge was re-created (new ifindex) or got another MTU; 'gone' while it is absent.
   * For the daemon's once-a-second housekeeping, next to BridgePort.checkBridge(). Never throws.
   */
  checkBridge(): 'same' | 'gone' | 'reopened' {
    if (this.#closed || !this.#socket.link) return 'same';
    try {
      const link = this.#socket.link();
      if (link === null) return 'gone';
      if (link.ifindex === this.ifindex && link.mtu === this.#socket.mtu) return 'same';
      const fresh = this.#open(this.#rsSocket ? 'dhcp6' : 'both');
      const old = this.#socket;
      this.#socket = fresh;
      old.close();
      if (this.#rsSocket) {
        const oldRs = this.#rsSocket;
        this.#rsSocket = this.#open('router-solicitation');
        oldRs.close();
      }
      return 'reopened';
    } catch (e) {
      this.#drop('bridge-check-failed', (e as Error).message);
      return 'same';
    }
  }

  /** Idempotent. Frames still queued in the kernel are not delivered. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
    this.#rsSocket?.close();
  }
}
