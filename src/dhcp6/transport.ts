/**
 * Joins the DHCPv6 server to the bridge's IPv6 packet socket: each UDP datagram to port 547 goes to Dhcp6Server.handle
 * with its wire identity (the frame's source MAC, the bridge port, whether it was multicast), and each reply goes back
 * as a whole Ethernet/IPv6/UDP frame built here, checksum included (src/wire/frame6.ts), from the bridge's link-local
 * address to the client's address and port 546. A reply that bound addresses waits for the lease store: the batch of a
 * socket wakeup is committed once and its replies leave only when the store says the bindings are durable, as DHCPv4
 * ACKs do (RFC 8415 §18.3 gives the reply; the project's contract gives "no Reply before its binding is durable").
 */
import type { Logger, RateLimitedCounter } from '../log.ts';
import { formatIPv6, isMulticast, parseIPv6 } from '../net/address6.ts';
import { buildUdp6Frame, type Udp6Packet } from '../wire/frame6.ts';
import type { Ipv6Ingress } from '../wire/ipv6-port.ts';
import { type Dhcp6Decision, type Lease6Event, ROUTINE_DROPS6 } from './server.ts';
import { CLIENT_PORT, MESSAGE_NAMES, SERVER_PORT } from './vocabulary.ts';

/**
 * Replies waiting for one commit: the most one socket wakeup can bring (the addon reads at most a few hundred frames
 * per wakeup); past it a reply is dropped and counted, so a flood cannot grow the list while a slow disk syncs.
 */
const MAX_REPLIES_AWAITING_COMMIT = 4096;

/** The link-local hop limit for DHCPv6 on the link (RFC 8415 §7.1 sends to link-scoped addresses; any value works, 255 as ND). */
const HOP_LIMIT = 255;

interface Dhcp6TransportOptions {
  handle: (payload: Buffer, wire: { srcMac: string; srcIp: string; multicast: boolean; port: number }) => Dhcp6Decision;
  send: (frame: Buffer) => boolean;
  /** The bridge's MAC now (it changes when the bridge is re-created). */
  mac: () => string;
  /** Our source address: the bridge's link-local one, or null while it has none yet. */
  source: () => Buffer | null;
  /** Makes the staged bindings durable and calls `done` (the lease store's commitThen). */
  commit: (done: (error: Error | null) => void) => void;
  /** Binding changes (BIND, RENEW, RELEASE, ...) once they are durable, for names and the log. */
  onEvents: (events: readonly Lease6Event[]) => void;
  log: Logger;
  drops: RateLimitedCounter;
  onMessage?: (direction: 'received' | 'sent', type: string) => void;
  onDrop?: (reason: string) => void;
}

interface WaitingReply {
  frame: Buffer;
  type: string;
  events: readonly Lease6Event[];
}

export class Dhcp6Transport {
  private waiting: WaitingReply[] = [];
  private closed = false;

  constructor(private readonly o: Dhcp6TransportOptions) {}

  /** One datagram from the IPv6 port (valid only during the call: handle() copies what it keeps). */
  receive(packet: Udp6Packet, from: Ipv6Ingress): void {
    if (this.closed) return;
    if (packet.dstPort !== SERVER_PORT) {
      this.dropped('not-server-port', `UDP port ${packet.dstPort}`);
      return;
    }
    const decision = this.o.handle(packet.payload, { srcMac: from.srcMac, srcIp: formatIPv6(packet.src), multicast: isMulticast(packet.dst), port: from.port });
    const type = packet.payload.length > 0 ? (MESSAGE_NAMES[packet.payload[0] ?? 0] ?? 'unknown') : 'empty';
    this.o.onMessage?.('received', type);
    if (decision.kind === 'drop') {
      if (!ROUTINE_DROPS6.has(decision.reason)) this.dropped(decision.reason, `${from.srcMac}: ${decision.detail}`);
      return;
    }
    if (decision.kind === 'silent') {
      this.o.onEvents(decision.events);
      return;
    }
    this.reply(decision);
  }

  /** After each socket wakeup: one commit for the wakeup's bindings, then their replies. */
  endOfWakeup(): void {
    if (this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    this.o.commit((error) => {
      if (error) {
        this.o.log.error(`lease database commit failed, ${batch.length} DHCPv6 replies withheld: ${error.message}`);
        return;
      }
      for (const r of batch) {
        this.o.onEvents(r.events);
        this.transmit(r.frame, r.type);
      }
    });
  }

  close(): void {
    this.closed = true;
    this.waiting = [];
  }

  private reply(decision: Extract<Dhcp6Decision, { kind: 'reply' }>): void {
    const source = this.o.source();
    const destination = parseIPv6(decision.destination.ip);
    if (source === null || destination === null) {
      // Without a link-local address (the bridge's DAD still running) there is no valid source: the client retransmits.
      this.dropped('no-source-address', `reply to ${decision.destination.mac} not sent`);
      return;
    }
    const frame = buildUdp6Frame(
      {
        srcMac: this.o.mac(),
        dstMac: decision.destination.mac,
        src: source,
        dst: destination,
        hopLimit: HOP_LIMIT,
        srcPort: SERVER_PORT,
        dstPort: decision.destination.port || CLIENT_PORT,
      },
      decision.payload,
    );
    const type = MESSAGE_NAMES[decision.messageType] ?? String(decision.messageType);
    if (!decision.commit) {
      this.o.onEvents(decision.events);
      this.transmit(frame, type);
      return;
    }
    if (this.waiting.length >= MAX_REPLIES_AWAITING_COMMIT) {
      this.dropped('commit-queue-full', `reply to ${decision.destination.mac}`);
      return;
    }
    this.waiting.push({ frame, type, events: decision.events });
  }

  private transmit(frame: Buffer, type: string): void {
    if (this.closed) return;
    if (this.o.send(frame)) this.o.onMessage?.('sent', type);
  }

  private dropped(reason: string, detail: string): void {
    this.o.onDrop?.(reason);
    if (this.o.drops.hit(`dhcp6-${reason}`)) this.o.log.warn(`DHCPv6 dropped (${reason}): ${detail}`);
  }
}
