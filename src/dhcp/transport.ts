/**
 * The DHCP server on the wire: the bridge's packet socket (BridgePort) is opened first; frames from it are decoded by
 * the DhcpTransport and handed to the DhcpServer, whose decisions become reply frames. All bindings made while handling one socket wakeup are committed in one transaction
 * before any of that wakeup's replies is sent (RFC 2131 §4.3.1: the binding is on disk before the ACK).
 */
import { type Logger, quote, type RateLimitedCounter } from '../log.ts';
import { formatIPv4, type IPv4 } from '../net/address.ts';
import { dhcpBridgePortFilter } from '../wire/bpf.ts';
import {
  ARP_REQUEST,
  ARP_TARGET_IP_OFFSET,
  BROADCAST_MAC,
  buildArpFrame,
  ETHERTYPE_ARP,
  finishUdpFrame,
  parseArpFrame,
  parseUdpFrame,
  UDP_FRAME_HEADROOM,
} from '../wire/frame.ts';
import { type LinkState, PacketSocket, type ReceivedFrame } from '../wire/packet-socket.ts';
import { UdpSocket } from '../wire/udp-socket.ts';
import { DHCP_SERVER_PORT, messageTypeName } from './constants.ts';
import { InlineSyncBudget } from './inline-sync.ts';
import { type DhcpMessage, parseDhcpMessage, serializeDhcpMessage } from './message.ts';
import { ESSENTIAL_OPTIONS, replySizeLimit } from './reply.ts';
import { ReplyPacer } from './reply-pacer.ts';
import { type DhcpServer, type FinalDecision, type IncomingRequest, type LeaseEvent, ROUTINE_DROPS } from './server.ts';

const PACKET_OUTGOING = 4;
/**
 * Replies go out (and bindings are committed) after every this many requests rather than once per wakeup, which can
 * bring hundreds: a client or relay that receives many replies on one socket (a relay for a whole rack, perfdhcp) then
 * gets them spread over the time they take to make, not in one burst its receive buffer may not hold.
 */
const REPLY_CHUNK = 32;
/**
 * Replies to relays (src/dhcp/reply-pacer.ts): 64 at once, then 32 a millisecond (32 000 a second, the reply rate of
 * 16 000 exchanges a second, about what one perfdhcp thread can ask for here), at most 8192 waiting. Chosen in an
 * A/B under perfdhcp against no pacing and 128/40 (docs/performance.md).
 */
const RELAY_PACING = {
  burst: 64,
  perMs: 32,
  maxQueued: 8192,
};

/** What the bridge port needs of its packet socket: a PacketSocket on the bridge, unless the options give another. */
export interface FramePort {
  readonly mac: string;
  readonly mtu: number;
  /** The bridge's ifindex when the port was opened (0 for an injected port). */
  readonly ifindex?: number;
  send(frame: Buffer): boolean;
  sendMany(frames: Buffer[]): number;
  /** True when `ifindex` is a port of the bridge now (ReceivedFrame.ifindex of a frame from a container). */
  isBridgePort(ifindex: number): boolean;
  /** The bridge as the kernel has it now, null when it is gone; absent for an injected port (never changes). */
  link?(): LinkState | null;
  close(): void;
}

/** What checkBridge() found (the daemon's housekeeping asks once a second). */
type BridgeChange = 'same' | 'gone' | 'down' | 'up' | 'recreated' | 'mtu';

interface BridgePortOptions {
  bridge: string;
  /** Opens the frame port instead of a packet socket on `bridge` (for measuring the CPU cost per exchange in-process). */
  openPort?: (onFrames: (frames: ReceivedFrame[]) => void) => FramePort;
  serverIp: IPv4;
  drops: RateLimitedCounter;
  log: Logger;
  /** Told about every frame the port could not send or reopen, by reason (metrics). */
  onDrop?: (reason: string) => void;
}

interface DhcpTransportOptions {
  /** The bridge the replies leave by; the transport listens on it and closes it in close(). */
  port: BridgePort;
  /** Decides every request the port receives. */
  server: DhcpServer;
  serverIp: IPv4;
  /** Writes every binding staged so far and calls `done` once it is durable (ACKs wait for it). */
  commit: (done: (error: Error | null) => void) => void;
  /**
   * Writes every binding staged so far and makes it durable before it returns (the store's commit(), fdatasync on the
   * event loop); throws when it could not. When given (with commitInFlight), a lightly loaded server uses it instead of
   * `commit`, within the share of the loop's time InlineSyncBudget allows (src/dhcp/inline-sync.ts).
   */
  commitNow?: () => void;
  /** True while callbacks of an earlier `commit` still wait: then `commit` is used, so ACKs leave in commit order. */
  commitInFlight?: () => boolean;
  drops: RateLimitedCounter;
  log: Logger;
  /** Told about every ARP sender seen on the bridge (conflict probes). */
  onArpSender?: (ip: IPv4) => void;
  /** Told about every received request and sent reply, by message type (metrics). */
  onMessage?: (direction: 'received' | 'sent', type: string) => void;
  /** Told about every dropped frame or message, by reason (metrics). */
  onDrop?: (reason: string) => void;
  /** The clock of the relay pacer and of the inline-sync budget, in ms (tests); performance.now() by default. */
  now?: () => number;
}

export function formatLeaseEvent(e: LeaseEvent): string {
  const detail = e.detail ? ` (${e.detail})` : '';
  return `DHCP${e.type} ${formatIPv4(e.ip)} ${e.mac || '-'} ${quote(e.hostname)}${detail}`;
}

/** Reply frames of one batch: to clients on the bridge directly, or through a relay (paced). */
interface Outgoing {
  direct: Buffer[];
  relayed: Buffer[];
}

interface Pending {
  decision: FinalDecision;
  request: DhcpMessage;
}

function countDrop(o: { drops: RateLimitedCounter; log: Logger; onDrop?: (reason: string) => void }, reason: string, detail: string): void {
  o.onDrop?.(reason);
  if (o.drops.hit(reason)) o.log.warn(`dropped DHCP packet: ${reason}: ${detail}`);
}

/**
 * The bridge as a place frames come from and go to: its packet socket (reopened when the bridge is re-created or its
 * MTU changes), its MAC and MTU, its ports, ARP probes from its address, and the ICMP guard on bridge-ip:67. Opened
 * first, so the prober, the server (MTU, ports) and then the transport (which listens) are built on it in that order.
 */
export class BridgePort {
  private socket: FramePort;
  private receiver: ((frames: ReceivedFrame[]) => void) | null = null;
  private closed = false;
  /** The bridge's state at the last checkBridge(): only changes are logged. */
  private bridgeState: 'up' | 'down' | 'gone' = 'up';
  private icmpGuard: UdpSocket | null;
  private arpProbeTemplate: Buffer;
  private readonly arpProbes: Buffer[] = [];

  /** Throws when the packet socket cannot be opened (no such interface, no CAP_NET_RAW). */
  constructor(private readonly o: BridgePortOptions) {
    this.socket = this.openSocket();
    // The guard belongs with a real socket on the bridge; an injected port has no bridge address to guard.
    this.icmpGuard = o.openPort ? null : this.openIcmpGuard();
    this.arpProbeTemplate = this.buildArpProbeTemplate();
  }

  get bridge(): string {
    return this.o.bridge;
  }

  /**
   * Where received frames go from now on (the transport, once; frames that arrive before are dropped: nobody could
   * answer them yet).
   */
  listen(receiver: (frames: ReceivedFrame[]) => void): void {
    if (this.receiver) throw new Error(`bridge ${this.o.bridge}: the port already has a listener`);
    this.receiver = receiver;
  }

  /**
   * The bridge's packet socket: on every interface, so each frame says which bridge port it came in on; the filter
   * drops what the bridge passes up on itself (the second copy of each request) and what is sent (docs/wire.md).
   */
  private openSocket(): FramePort {
    const onFrames = (frames: ReceivedFrame[]): void => {
      if (!this.closed) this.receiver?.(frames);
    };
    if (this.o.openPort) return this.o.openPort(onFrames);
    return PacketSocket.open({
      ifname: this.o.bridge,
      filter: (ifindex) => dhcpBridgePortFilter(ifindex),
      bridgePorts: true,
      onFrames,
      onError: (e) => this.o.log.error(`packet socket: ${e.message}`),
    });
  }

  /** An ARP who-has from the bridge's MAC (the sender address probes need); a re-created bridge has another MAC. */
  private buildArpProbeTemplate(): Buffer {
    return buildArpFrame(
      { operation: ARP_REQUEST, senderMac: this.socket.mac, senderIp: this.o.serverIp, targetMac: '00:00:00:00:00:00', targetIp: 0 },
      BROADCAST_MAC,
    );
  }

  get mtu(): number {
    return this.socket.mtu;
  }

  get mac(): string {
    return this.socket.mac;
  }

  /** True when `ifindex` is a port of the bridge now (may ask the kernel; see src/wire/bridge-ports.ts). */
  isBridgePort(ifindex: number): boolean {
    return !this.closed && this.socket.isBridgePort(ifindex);
  }

  /**
   * Compares the bridge with what the socket was opened on: deleted (sends fail until it is back), re-created under
   * the same name (new ifindex) or given another MTU (the socket is reopened on it), down or up again. Logs each change
   * once; never throws. The caller re-applies host set-up on 'recreated' before or after, as it likes.
   */
  checkBridge(): BridgeChange {
    if (this.closed || !this.socket.link) return 'same';
    let link: LinkState | null;
    try {
      link = this.socket.link();
    } catch (e) {
      countDrop(this.o, 'bridge-check-failed', (e as Error).message);
      return 'same';
    }
    if (link === null) {
      if (this.bridgeState !== 'gone') this.o.log.warn(`bridge ${this.o.bridge} is gone; DHCP is not served until it is back`);
      this.bridgeState = 'gone';
      return 'gone';
    }
    const opened = this.socket.ifindex ?? 0;
    if (link.ifindex !== opened || link.mtu !== this.socket.mtu) {
      const why: BridgeChange = link.ifindex !== opened ? 'recreated' : 'mtu';
      const detail = why === 'recreated' ? `re-created (ifindex ${opened} -> ${link.ifindex})` : `MTU ${this.socket.mtu} -> ${link.mtu}`;
      if (!this.reopen()) return 'same'; // logged; tried again at the next check
      this.o.log.warn(`bridge ${this.o.bridge} ${detail}: packet socket reopened`);
      this.bridgeState = link.up ? 'up' : 'down';
      return why;
    }
    const state = link.up ? 'up' : 'down';
    if (state === this.bridgeState) return 'same';
    const was = this.bridgeState;
    this.bridgeState = state;
    if (state === 'down') this.o.log.warn(`bridge ${this.o.bridge} is down; DHCP is not served until it is up`);
    else if (was === 'down') this.o.log.info(`bridge ${this.o.bridge} is up again`);
    return state;
  }

  /** Opens a new socket on the bridge as it is now and closes the old one; false (logged) when that fails. */
  private reopen(): boolean {
    let fresh: FramePort;
    try {
      fresh = this.openSocket();
    } catch (e) {
      countDrop(this.o, 'reopen-failed', (e as Error).message);
      return false;
    }
    const old = this.socket;
    this.socket = fresh;
    this.arpProbeTemplate = this.buildArpProbeTemplate();
    try {
      old.close();
    } catch {
      // closing a socket whose device is gone cannot fail in a way that matters
    }
    return true;
  }

  /**
   * ARP who-has for `ip` from the bridge: an answer means the address is in use. Probes asked for in one turn of the
   * event loop leave together in one sendmmsg (a burst of new clients starts hundreds).
   */
  sendArpProbe(ip: IPv4): void {
    if (this.closed) return;
    const frame = Buffer.from(this.arpProbeTemplate);
    frame.writeUInt32BE(ip >>> 0, ARP_TARGET_IP_OFFSET);
    if (this.arpProbes.push(frame) === 1) setImmediate(() => this.send(this.arpProbes.splice(0)));
  }

  /**
   * Every send path ends here (replies now and after the commit, paced replies to relays, ARP probes), from timers
   * and commit callbacks too: a closed port sends nothing, and a send error (ENETDOWN or ENXIO while the bridge is
   * down or gone, EMSGSIZE after its MTU was lowered) is counted, never thrown.
   */
  send(frames: Buffer[]): void {
    if (frames.length === 0 || this.closed) return;
    let sent: number;
    try {
      sent = this.socket.sendMany(frames);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      countDrop(this.o, 'send-error', `${frames.length} frames not sent: ${code}: ${(e as Error).message}`);
      return;
    }
    if (sent < frames.length) countDrop(this.o, 'send-queue-full', `${frames.length - sent} replies not sent`);
  }

  /** Idempotent: the daemon's rollback may close a port its transport already closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.arpProbes.length = 0;
    this.socket.close();
    this.icmpGuard?.close();
    this.icmpGuard = null;
  }

  /**
   * A kernel socket on bridge-ip:67 keeps the kernel from answering unicast requests (renewals, relays) with ICMP
   * port-unreachable. It receives nothing: the packet socket already sees, and answers, every request, so a filter
   * drops the kernel's copy before it is queued. (Reading and throwing away those copies through a dgram socket cost a
   * wakeup, a recvmsg and a JS event for most unicast requests: about 3 % of the daemon's CPU under perfdhcp.)
   */
  private openIcmpGuard(): UdpSocket | null {
    const address = formatIPv4(this.o.serverIp);
    try {
      return UdpSocket.open({
        address,
        port: DHCP_SERVER_PORT,
        discard: true,
        onDatagrams: () => undefined,
        onError: (e) => this.o.log.warn(`${address}:67 guard: ${e.message}`),
      });
    } catch (e) {
      this.o.log.warn(`could not bind ${address}:67 (${(e as Error).message}); unicast renewals may see ICMP port unreachable`);
      return null;
    }
  }
}

/**
 * Frames from the port become requests for the server; its decisions become reply frames sent on the port. Built
 * last, on a port and a server that exist: it listens on the port from its constructor.
 */
export class DhcpTransport {
  private readonly server: DhcpServer;
  private readonly socket: BridgePort;
  private closed = false;
  /** Decisions that waited for a probe, collected so that those finishing together are sent and committed together. */
  private readonly lateDecisions: Pending[] = [];
  private readonly relayPacer: ReplyPacer;
  private readonly inlineSync: InlineSyncBudget;
  private readonly clock: () => number;

  constructor(private readonly o: DhcpTransportOptions) {
    this.server = o.server;
    this.socket = o.port;
    this.clock = o.now ?? (() => performance.now());
    this.inlineSync = new InlineSyncBudget(this.clock);
    this.relayPacer = new ReplyPacer({ ...RELAY_PACING, send: (frames) => this.send(frames), ...(o.now ? { now: o.now } : {}) });
    o.port.listen((frames) => this.onFrames(frames));
  }

  get mtu(): number {
    return this.socket.mtu;
  }

  get mac(): string {
    return this.socket.mac;
  }

  /** True when `ifindex` is a port of the bridge now (may ask the kernel; see src/wire/bridge-ports.ts). */
  isBridgePort(ifindex: number): boolean {
    return !this.closed && this.socket.isBridgePort(ifindex);
  }

  /** ARP who-has for `ip` from the bridge (BridgePort.sendArpProbe); nothing once closed. */
  sendArpProbe(ip: IPv4): void {
    if (!this.closed) this.socket.sendArpProbe(ip);
  }

  /** Stops answering and closes the port it was given. */
  close(): void {
    this.closed = true;
    this.relayPacer.close();
    this.lateDecisions.length = 0;
    this.socket.close();
  }

  private countDrop(reason: string, detail: string): void {
    countDrop(this.o, reason, detail);
  }

  private onFrames(frames: ReceivedFrame[]): void {
    const server = this.server;
    if (this.closed) return;
    let batch: Pending[] = [];
    for (const frame of frames) {
      if (batch.length === REPLY_CHUNK) {
        this.deliver(batch);
        batch = [];
      }
      if (frame.pktType === PACKET_OUTGOING) continue;
      // The socket sees every interface: what did not come in through a port of our bridge is not ours to answer.
      // Counted, but logged only at debug: DHCP on the uplink's LAN is normal and would fill the log with warnings.
      if (!this.socket.isBridgePort(frame.ifindex)) {
        this.o.onDrop?.('not-bridge-port');
        if (this.o.log.enabled('debug')) this.o.log.debug(`ignored: frame on ifindex ${frame.ifindex}, not a port of ${this.socket.bridge}`);
        continue;
      }
      try {
        const request = this.decode(frame);
        if (!request) continue;
        const result = server.handle(request);
        if (result.kind === 'pending') {
          result.settled.then(
            (decision) => this.deliverLate({ decision, request: request.message }),
            (e: unknown) => this.countDrop('internal-error', (e as Error).message),
          );
        } else {
          batch.push({ decision: result, request: request.message });
        }
      } catch (e) {
        this.countDrop('internal-error', (e as Error).stack ?? String(e));
      }
    }
    if (batch.length > 0) this.deliver(batch);
  }

  /** A DHCP request out of a frame, or null (ARP, not for port 67, malformed: counted). */
  private decode(frame: ReceivedFrame): IncomingRequest | null {
    const data = frame.data;
    if (data.length >= 14 && data.readUInt16BE(12) === ETHERTYPE_ARP) {
      const arp = parseArpFrame(data);
      if (arp) this.o.onArpSender?.(arp.senderIp);
      return null;
    }
    const udp = parseUdpFrame(data);
    if (!udp.ok) {
      this.countDrop(udp.reason, udp.detail);
      return null;
    }
    if (udp.datagram.dstPort !== DHCP_SERVER_PORT) return null;
    const parsed = parseDhcpMessage(udp.datagram.payload);
    if (!parsed.ok) {
      this.countDrop(parsed.reason, `${parsed.detail} from ${udp.datagram.srcMac}`);
      return null;
    }
    const type = messageTypeName(parsed.message.options.messageType);
    this.o.onMessage?.('received', type);
    if (this.o.log.enabled('debug')) {
      this.o.log.debug(`received DHCP${type} xid 0x${parsed.message.xid.toString(16)} from ${udp.datagram.srcMac}`);
    }
    return { message: parsed.message, frameSrcMac: udp.datagram.srcMac, port: frame.ifindex, srcIp: udp.datagram.srcIp };
  }

  private deliverLate(pending: Pending): void {
    if (this.closed) return;
    if (this.lateDecisions.push(pending) === 1) setImmediate(() => this.deliver(this.lateDecisions.splice(0)));
  }

  /**
   * Replies that bind nothing (OFFER, NAK, INFORM's ACK) go out at once; then everything the batch bound is committed
   * in one transaction, and only then the ACKs that depend on it: no ACK leaves before its binding is on disk.
   */
  private deliver(batch: Pending[]): void {
    // Runs from onFrames and from timers (deliverLate); nothing may throw into the event loop from here.
    try {
      this.deliverNow(batch);
    } catch (e) {
      this.countDrop('internal-error', (e as Error).stack ?? String(e));
    }
  }

  private deliverNow(batch: Pending[]): void {
    if (this.closed) return;
    const now: Outgoing = { direct: [], relayed: [] };
    const afterCommit: Outgoing = { direct: [], relayed: [] };
    for (const { decision, request } of batch) {
      if (decision.kind === 'drop') {
        if (ROUTINE_DROPS.has(decision.reason)) {
          // Counted like every drop (a DECLINE of someone else's address shows in the metric), but not a warning.
          this.o.onDrop?.(decision.reason);
          if (this.o.log.enabled('debug')) this.o.log.debug(`ignored: ${decision.detail}`);
        } else {
          this.countDrop(decision.reason, decision.detail);
        }
        continue;
      }
      // Formatted only when it is printed: this runs for every reply.
      if (decision.event && this.o.log.enabled('info')) this.o.log.info(formatLeaseEvent(decision.event));
      if (decision.kind === 'reply') {
        const out = decision.commit ? afterCommit : now;
        (request.giaddr !== 0 ? out.relayed : out.direct).push(this.toFrame(decision, request));
        this.o.onMessage?.('sent', messageTypeName(decision.reply.options.messageType));
      }
    }
    this.sendOut(now);
    const committed = (error: Error | null): void => {
      const withheld = afterCommit.direct.length + afterCommit.relayed.length;
      if (error) this.o.log.error(`lease database commit failed, ${withheld} ACKs withheld: ${error.message}`);
      else this.sendOut(afterCommit);
    };
    if (this.commitsInline()) committed(this.commitOnLoop());
    else this.o.commit(committed);
  }

  /** A sync on the loop is allowed now: no earlier commit still waits (ACK order) and the budget is not spent. */
  private commitsInline(): boolean {
    const o = this.o;
    return o.commitNow !== undefined && o.commitInFlight !== undefined && !o.commitInFlight() && this.inlineSync.allowed();
  }

  /** commitNow(), its time charged to the budget; the error instead of a throw. */
  private commitOnLoop(): Error | null {
    const start = this.clock();
    try {
      this.o.commitNow?.();
      return null;
    } catch (e) {
      return e as Error;
    } finally {
      this.inlineSync.spent(this.clock() - start);
    }
  }

  private sendOut(out: Outgoing): void {
    this.send(out.direct);
    const refused = this.relayPacer.send(out.relayed);
    if (refused > 0) this.countDrop('relay-queue-full', `${refused} replies to relays not sent`);
  }

  private send(frames: Buffer[]): void {
    if (!this.closed) this.socket.send(frames);
  }

  private toFrame(d: Extract<FinalDecision, { kind: 'reply' }>, request: DhcpMessage): Buffer {
    const encoded = serializeDhcpMessage(d.reply, {
      maxLength: replySizeLimit(request, this.socket.mtu),
      essential: ESSENTIAL_OPTIONS,
      headroom: UDP_FRAME_HEADROOM,
    });
    if (encoded.omitted.length > 0) this.o.log.debug(`reply to ${d.event.mac} left out options ${encoded.omitted.join(',')} to fit`);
    return finishUdpFrame(encoded.withHeadroom, {
      srcMac: this.socket.mac,
      dstMac: d.destination.mac,
      srcIp: this.o.serverIp,
      dstIp: d.destination.ip,
      srcPort: DHCP_SERVER_PORT,
      dstPort: d.destination.port,
      ttl: 64,
    });
  }
}
