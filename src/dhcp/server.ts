/**
 * The DHCPv4 server's decisions (RFC 2131 §4.3) and the issue-11 identity and fair-share checks: what to answer to
 * each request, with no sockets. The transport (transport.ts) feeds it parsed requests and turns its decisions into
 * frames. Who holds which address (pool, lease table, reservations) is asked of the AddressBook; addresses probed
 * ahead of demand come from the ReadyQueue; offers, port bindings and fair shares are held here.
 */

import type { NameReservation, OperatorTarget, Reservation } from '../config/reservations.ts';
import { AddressBook } from '../leases/address-book.ts';
import type { Lease } from '../leases/lease.ts';
import type { HostNames } from '../leases/names.ts';
import type { AddressPool } from '../leases/pool.ts';
import type { LeaseTable } from '../leases/table.ts';
import { quote } from '../log.ts';
import { formatIPv4, type IPv4, inSubnet } from '../net/address.ts';
import { type ReplyDestination, replyDestination } from './addressing.ts';
import { BOOTREQUEST, ETHERNET_HLEN, HTYPE_ETHERNET, MessageType } from './constants.ts';
import { TokenBuckets } from './fair-share.ts';
import { clientName } from './hostname.ts';
import { clientMac, type DhcpMessage } from './message.ts';
import { PendingOffers } from './offers.ts';
import type { AddressProber, ProbeResult } from './probe.ts';
import { ReadyQueue } from './ready-queue.ts';
import { buildReply, type NetworkSettings } from './reply.ts';

export interface IncomingRequest {
  message: DhcpMessage;
  /** Ethernet source of the frame: the client, or the relay for relayed requests. */
  frameSrcMac: string;
  /** The bridge port (ifindex) the frame came in on; 0 when unknown. */
  port: number;
  /** UDP source address: the relay's for relayed requests, the client's (or 0.0.0.0) otherwise. */
  srcIp: IPv4;
}

/**
 * New bindings a source (bridge port, or frame MAC when the port is unknown) may make: this many at once, and this
 * many more an hour (--port-lease-limit). A container needs one per MAC it boots with, and a restarted container
 * returning with its MAC needs none, so 16 never touches a normal one (a restart creates a new veth, a new port, a
 * fresh bucket too); one port can then take at most 16 + 16 an hour of the pool (a /24 lasts over 14 hours).
 */
export const PORT_LEASE_LIMIT = 16;
/**
 * Offers of new addresses one source may hold at a time: a client has one outstanding offer (its DISCOVER
 * retransmissions reuse it); 8 leaves room for a container with a few clients behind its one veth (nested containers,
 * macvlan) and caps what one port holds in offers for the offer hold time (60 s). Addresses being probed count too.
 */
const PORT_OFFER_LIMIT = 8;
/**
 * Declines a source may make: 4 at once, 4 more an hour. A client declines only on a real address conflict, which
 * probing makes rare; each decline quarantines an address (--decline-time, 600 s), so one port can keep at most
 * a handful out of the pool. Beyond it a DECLINE is ignored (the address is not quarantined).
 */
const PORT_DECLINE_LIMIT = 4;

export type LeaseEventType = 'OFFER' | 'ACK' | 'NAK' | 'RELEASE' | 'DECLINE' | 'INFORM' | 'EXPIRE' | 'CONFLICT';

export interface LeaseEvent {
  type: LeaseEventType;
  mac: string;
  ip: IPv4;
  hostname: string | null;
  detail?: string;
}

export type DropReason =
  | 'wrong-op'
  | 'wrong-htype'
  | 'wrong-hlen'
  | 'no-message-type'
  | 'unexpected-message-type'
  | 'foreign-relay'
  | 'request-without-address'
  | 'pool-full'
  | 'probe-pending'
  | 'probe-conflicts'
  | 'reserved-address-in-use'
  | 'not-for-us'
  | 'chaddr-mismatch'
  | 'relay-not-allowed'
  | 'port-mismatch'
  | 'port-lease-limit'
  | 'port-offer-limit'
  | 'port-decline-limit';

/** How an operator names a lease: by MAC, address or DNS name. */
/** The operator's target (one type for the control socket and the server; src/config/reservations.ts). */
type AdminTarget = OperatorTarget;

/** Drops that are normal protocol life (another server chosen, a retransmission during a probe): not warnings. */
export const ROUTINE_DROPS: ReadonlySet<DropReason> = new Set<DropReason>(['not-for-us', 'probe-pending']);

/** What the server decided about one request. */
export type FinalDecision =
  | { kind: 'reply'; reply: DhcpMessage; destination: ReplyDestination; event: LeaseEvent; commit: boolean }
  | { kind: 'silent'; event: LeaseEvent | null }
  | { kind: 'drop'; reason: DropReason; detail: string };

/**
 * handle()'s answer: a final decision, or 'pending' while an ARP probe runs for a new client's address. Only the
 * probing path allocates a promise; the common synchronous decisions stay plain objects the transport batches.
 */
export type Decision = FinalDecision | { kind: 'pending'; settled: Promise<FinalDecision> };

/** The final decision, waiting for a pending one (tests and callers that need not batch). */
export function settled(d: Decision): Promise<FinalDecision> {
  return d.kind === 'pending' ? d.settled : Promise.resolve(d);
}

interface DhcpServerOptions {
  network: NetworkSettings;
  leaseSeconds: number;
  rapidCommit: boolean;
  /** How long an offered address is held for the client that was offered it. */
  offerHoldMs: number;
  declineQuarantineMs: number;
  leases: LeaseTable;
  pool: AddressPool;
  reservations: readonly Reservation[];
  /** Reservations by host name (`--host NAME,IP`); none by default. */
  nameReservations?: readonly NameReservation[];
  /** Host names for DNS: who owns which name. */
  names: HostNames;
  /** Names nobody may take (e.g. the zone's own name server). */
  unclaimableNames?: ReadonlySet<string>;
  /** Null turns conflict probing off. */
  prober: AddressProber | null;
  /**
   * The least number of never-used addresses kept probed and ready, so new clients are not delayed by probes. Under a
   * burst of new clients the queue grows to cover three times the probe time at the observed rate (at most MAX_READY).
   */
  readyTarget: number;
  /** The prober's timeout: how far ahead the ready queue must look. */
  probeTimeoutMs?: number;
  /** How long a probe result is trusted. */
  readyFreshMs: number;
  now: () => number;
  /**
   * Relay agents allowed (--relay): a relayed request is served only when both its giaddr and its UDP source are one of
   * these. None by default: relayed requests are dropped.
   */
  relays?: ReadonlySet<IPv4>;
  /** Whether a bridge port (ifindex) still exists; a MAC whose port is gone may move to another. Default: all exist. */
  portExists?: (ifindex: number) => boolean;
  /** New bindings per source, at once and per hour (--port-lease-limit); 0: no limit. Default PORT_LEASE_LIMIT. */
  portLeaseLimit?: number;
  /** Told when a fair-share table was full and evicted a partly spent source (the daemon logs it). */
  onSourceEvicted?: () => void;
  /** Told of each address an ARP probe found in use (it is quarantined); the daemon logs it. */
  onConflict?: (event: LeaseEvent) => void;
}

const MAX_PROBE_ATTEMPTS = 4;

/** What a reply says, beyond the request it answers. */
interface ReplyPlan {
  type: MessageType;
  yiaddr: IPv4;
  event: LeaseEvent;
  /** The reply depends on a binding: it leaves only after the lease table's commit. */
  commit: boolean;
  /** Echo option 80 (RFC 4039): this ACK answers a DISCOVER. */
  rapidCommit?: boolean;
  /** Option 56, for a NAK. */
  nakMessage?: string | null;
  /** Options 51/58/59; null leaves them out (INFORM). Default: the configured lease time. */
  leaseSeconds?: number | null;
}

type Assignability = { ok: true } | { ok: false; why: string };

export class DhcpServer {
  readonly offers: PendingOffers;
  /** Pool, lease table and reservations: who holds which address. */
  private readonly book: AddressBook<Reservation>;
  private readonly ready: ReadyQueue;
  private readonly probingForMac = new Set<string>();
  /**
   * New addresses being probed per fair-share source: they become offers when the probe ends, so they count against
   * the source's offers and new leases now (else a flood during probes would pass every check). At most one per MAC.
   */
  private readonly probingForSource = new Map<string, number>();
  /**
   * The bridge port each client was last served on (direct requests with a known port). Only MACs with a pending
   * offer or an active lease have an entry (removed when both end), so it is bounded by the offers and leases. In
   * memory only: after a restart the first request of each client sets it again.
   */
  private readonly portOf = new Map<string, number>();
  private readonly newLeases: TokenBuckets;
  private readonly declines: TokenBuckets;
  private readonly relays: ReadonlySet<IPv4>;

  constructor(private readonly o: DhcpServerOptions) {
    this.offers = new PendingOffers(o.offerHoldMs);
    this.relays = o.relays ?? new Set();
    const leaseLimit = o.portLeaseLimit ?? PORT_LEASE_LIMIT;
    if (!(Number.isInteger(leaseLimit) && leaseLimit >= 0)) throw new RangeError('portLeaseLimit must be a whole number >= 0');
    this.newLeases = new TokenBuckets({ burst: leaseLimit, perHour: leaseLimit }, o.now, undefined, o.onSourceEvicted);
    this.declines = new TokenBuckets({ burst: PORT_DECLINE_LIMIT, perHour: PORT_DECLINE_LIMIT }, o.now, undefined, o.onSourceEvicted);
    const book = new AddressBook<Reservation>(o.pool, o.leases);
    this.book = book;
    this.ready = new ReadyQueue({
      pool: { allocate: () => book.allocate(), release: (ip) => book.giveBack(ip) },
      prober: o.prober,
      wasLeased: (ip) => book.leaseAt(ip) !== undefined,
      target: o.readyTarget,
      ...(o.probeTimeoutMs !== undefined ? { probeTimeoutMs: o.probeTimeoutMs } : {}),
      freshMs: o.readyFreshMs,
      now: o.now,
      onInUse: (ip) => this.quarantineConflict(ip),
    });
    this.setReservations(o.reservations, o.nameReservations);
  }

  /** Clients whose bridge port is remembered (for tests and metrics). */
  get portBindingCount(): number {
    return this.portOf.size;
  }

  get network(): NetworkSettings {
    return this.o.network;
  }

  /** The bridge's MTU changed while we run: option 26 in later replies says the new one. */
  setMtu(mtu: number): void {
    if (mtu !== this.o.network.mtu) this.o.network = { ...this.o.network, mtu };
  }

  /**
   * Replaces the static reservations, by MAC and by host name (SIGHUP); leases are kept. A name reservation gives no
   * DNS name by itself: its name is the name of whoever holds the address (bind()).
   */
  setReservations(list: readonly Reservation[], byName: readonly NameReservation[] = []): void {
    this.book.reserve(list, byName);
    for (const r of [...list, ...byName]) this.ready.remove(r.ip);
    this.o.names.setReservations(list);
  }

  /** Re-registers the names of the active leases (at start, after the lease table was loaded). */
  loadNames(): void {
    this.o.names.claimActiveLeases(this.o.leases);
  }

  reservations(): Reservation[] {
    return this.book.reservations();
  }

  handle(req: IncomingRequest): Decision {
    const m = req.message;
    if (m.op !== BOOTREQUEST) return drop('wrong-op', `op ${m.op}`);
    if (m.htype !== HTYPE_ETHERNET) return drop('wrong-htype', `htype ${m.htype}`);
    if (m.hlen !== ETHERNET_HLEN) return drop('wrong-hlen', `hlen ${m.hlen}`);
    const type = m.options.messageType;
    if (type === undefined) return drop('no-message-type', 'BOOTP without option 53 is not served');
    const { serverIp, prefixLength } = this.o.network;
    const mac = clientMac(m) as string;
    if (m.giaddr !== 0) {
      if (!inSubnet(m.giaddr, serverIp, prefixLength)) {
        return drop('foreign-relay', `relay ${formatIPv4(m.giaddr)} is outside the bridge subnet`);
      }
      if (!this.relays.has(m.giaddr) || !this.relays.has(req.srcIp)) {
        return drop('relay-not-allowed', `giaddr ${formatIPv4(m.giaddr)} from ${formatIPv4(req.srcIp)} (${req.frameSrcMac}) is not a --relay`);
      }
    } else {
      // Identity comes from the wire: a client speaks for the MAC it sends from, on the port it was bound on.
      if (mac !== req.frameSrcMac) return drop('chaddr-mismatch', `chaddr ${mac} sent from ${req.frameSrcMac}`);
      const refused = this.portRefusal(mac, req.port);
      if (refused !== null) return refused;
    }
    switch (type) {
      case MessageType.Discover: {
        const d = this.discover(req, mac);
        return d instanceof Promise ? { kind: 'pending', settled: d } : d;
      }
      case MessageType.Request:
        return this.request(req, mac);
      case MessageType.Decline:
        return this.decline(req, mac);
      case MessageType.Release:
        return this.release(req.message, mac);
      case MessageType.Inform:
        return this.inform(req, mac);
      default:
        return drop('unexpected-message-type', `a server does not accept type ${type}`);
    }
  }

  /** Returns offers whose hold expired to the pool and reclaims expired leases; call about once a second. */
  tick(): LeaseEvent[] {
    const now = this.o.now();
    for (const offer of this.offers.expire(now)) {
      this.book.abandon(offer.ip, offer.mac);
      this.forgetPortIfIdle(offer.mac);
    }
    const events: LeaseEvent[] = [];
    for (const lease of this.book.expireDue()) {
      this.o.names.removeLease(lease.mac, lease.ip);
      this.withdrawOffer(lease.mac, lease.ip);
      this.forgetPortIfIdle(lease.mac);
      events.push({ type: 'EXPIRE', mac: lease.mac, ip: lease.ip, hostname: lease.hostname });
    }
    this.newLeases.sweep();
    this.declines.sweep();
    this.ready.dropStale();
    this.ready.refill();
    return events;
  }

  /**
   * Ends a lease on the operator's request: the address goes back to the pool and the DNS name disappears at once
   * (no forged DHCPRELEASE as Incus does with dnsmasq). The client learns of it at its next renewal (NAK).
   */
  adminRelease(target: AdminTarget): { ok: true; lease: Lease; event: LeaseEvent } | { ok: false; error: string } {
    let lease: Lease | undefined;
    if (target.kind === 'mac') lease = this.book.leaseOf(target.mac);
    else if (target.kind === 'ip') lease = this.book.leaseAt(target.ip);
    else {
      const entry = this.o.names.lookup(target.name);
      lease = entry && entry.source === 'lease' ? this.book.leaseAt(entry.ip) : undefined;
    }
    const what = target.kind === 'mac' ? target.mac : target.kind === 'ip' ? formatIPv4(target.ip) : target.name;
    if (!lease || !this.book.isActive(lease)) return { ok: false, error: `no active lease for ${what}` };
    const released = this.book.release(lease.ip) ?? lease;
    this.o.names.removeLease(lease.mac, lease.ip);
    this.offers.remove(lease.mac);
    this.forgetPortIfIdle(lease.mac);
    return { ok: true, lease: released, event: { type: 'RELEASE', mac: lease.mac, ip: lease.ip, hostname: lease.hostname, detail: 'by the operator' } };
  }

  // ---- DISCOVER ----

  private discover(req: IncomingRequest, mac: string): FinalDecision | Promise<FinalDecision> {
    const m = req.message;
    if (this.probingForMac.has(mac)) return drop('probe-pending', `an address for ${mac} is being probed`);
    const known = this.knownAddressFor(mac, m.options.requestedIp, clientName(m.options).label);
    if (known.kind === 'conflict') return drop('reserved-address-in-use', known.why);
    if (known.kind === 'address') return this.offerOrCommit(req, mac, known.ip);

    // From here on the client gets a new share of the pool: checked before any address is taken for it.
    const source = this.sourceOf(req);
    if (source !== null) {
      const refused = this.newShareRefused(source, mac);
      if (refused !== null) return refused;
    }
    const requested = m.options.requestedIp;
    if (requested !== undefined && this.book.claimUnreserved(requested)) {
      return this.book.leaseAt(requested) === undefined ? this.probeThenOffer(req, mac, requested, 1) : this.offerOrCommit(req, mac, requested);
    }
    const ready = this.ready.take();
    if (ready !== null) {
      this.ready.refill();
      if (ready.probedAt !== null) return this.offerOrCommit(req, mac, ready.ip);
      return this.awaitProbeThenOffer(req, mac, ready.ip, ready.probe, 1);
    }
    const ip = this.book.allocate();
    if (ip === null) return drop('pool-full', `no free address for ${mac}`);
    this.ready.refill();
    if (this.book.leaseAt(ip) !== undefined || this.o.prober === null) return this.offerOrCommit(req, mac, ip);
    return this.probeThenOffer(req, mac, ip, 1);
  }

  /**
   * An address the client already has a claim on: its reservation, the address reserved for the host name it sends
   * (when free), its pending offer, its lease (active, or expired but still free), or a requested address it held
   * before.
   */
  private knownAddressFor(
    mac: string,
    requested: IPv4 | undefined,
    label: string | null,
  ): { kind: 'address'; ip: IPv4 } | { kind: 'none' } | { kind: 'conflict'; why: string } {
    const reservation = this.book.reservationOf(mac);
    if (reservation) {
      const holder = this.book.heldByOther(reservation.ip, mac);
      if (holder) {
        return { kind: 'conflict', why: `${formatIPv4(reservation.ip)} is reserved for ${mac} but leased to ${holder.mac}` };
      }
      return { kind: 'address', ip: reservation.ip };
    }
    const byName = this.nameReservedAddress(mac, label);
    if (byName !== null) {
      // An offer of a pool address made while the reserved one was held by another client goes back to the pool.
      const earlier = this.offers.forMac(mac);
      if (earlier !== undefined && earlier.ip !== byName) {
        this.offers.remove(mac);
        this.book.abandon(earlier.ip, mac);
      }
      return { kind: 'address', ip: byName };
    }
    const offer = this.offers.forMac(mac);
    if (offer) {
      if (!this.book.heldByOther(offer.ip, mac)) return { kind: 'address', ip: offer.ip };
      this.offers.remove(mac); // its address was taken meanwhile: offer another
    }
    const lease = this.book.leaseOf(mac);
    if (lease && lease.mac === mac) {
      if (this.book.isActive(lease)) return { kind: 'address', ip: lease.ip };
      if (this.book.claimUnreserved(lease.ip)) {
        return { kind: 'address', ip: lease.ip };
      }
    }
    if (requested !== undefined) {
      const previous = this.book.leaseAt(requested);
      if (previous && previous.mac === mac && previous.state !== 'declined' && this.book.claim(requested)) {
        return { kind: 'address', ip: requested };
      }
    }
    return { kind: 'none' };
  }

  /**
   * dnsmasq's `dhcp-host=NAME,IP`: the address reserved for the host name a client sends (`label`, validated), when
   * that client may take it now: the client has no reservation by MAC, and no other client holds the address (an
   * active lease or a pending offer) and no quarantine does. Whoever holds it keeps it, whatever name it sends later
   * (the lease follows its MAC until it ends); meanwhile a second client sending the name is served from the pool.
   */
  private nameReservedAddress(mac: string, label: string | null): IPv4 | null {
    if (label === null || this.book.reservationOf(mac) !== undefined) return null;
    const ip = this.book.addressOfName(label);
    if (ip === undefined || this.book.heldByOther(ip, mac) !== undefined) return null;
    const record = this.book.leaseAt(ip);
    if (record !== undefined && record.state === 'declined' && record.mac !== mac && record.expiresAt > this.o.now()) return null;
    const offer = this.offers.forIp(ip);
    return offer !== undefined && offer.mac !== mac ? null : ip;
  }

  private offerOrCommit(req: IncomingRequest, mac: string, ip: IPv4): FinalDecision {
    const m = req.message;
    const source = this.sourceOf(req);
    if (this.o.rapidCommit && m.options.rapidCommit) {
      if (source !== null && this.isNewBinding(mac, ip) && !this.newLeases.take(source)) return this.withdraw(source, mac, ip);
      const { lease, nameNote } = this.bind(m, mac, ip);
      this.rememberPort(req, mac);
      const detail = nameNote ? `rapid commit; ${nameNote}` : 'rapid commit';
      const event: LeaseEvent = { type: 'ACK', mac, ip, hostname: lease.hostname, detail };
      return this.reply(req, { type: MessageType.Ack, yiaddr: ip, event, commit: true, rapidCommit: true });
    }
    this.offers.add(mac, ip, this.o.now(), source !== null && this.isNewBinding(mac, ip) ? source : null);
    this.rememberPort(req, mac);
    const name = clientName(m.options);
    return this.reply(req, { type: MessageType.Offer, yiaddr: ip, event: { type: 'OFFER', mac, ip, hostname: name.label }, commit: false });
  }

  private probeThenOffer(req: IncomingRequest, mac: string, ip: IPv4, attempt: number): Promise<FinalDecision> | FinalDecision {
    const prober = this.o.prober;
    if (prober === null) return this.offerOrCommit(req, mac, ip);
    return this.awaitProbeThenOffer(req, mac, ip, prober.probe(ip), attempt);
  }

  private async awaitProbeThenOffer(req: IncomingRequest, mac: string, ip: IPv4, probe: Promise<ProbeResult>, attempt: number): Promise<FinalDecision> {
    this.probingForMac.add(mac);
    const source = this.sourceOf(req);
    if (source !== null) this.probingForSource.set(source, (this.probingForSource.get(source) ?? 0) + 1);
    let result: ProbeResult;
    try {
      result = await probe;
    } finally {
      this.probingForMac.delete(mac);
      if (source !== null) {
        const left = (this.probingForSource.get(source) ?? 1) - 1;
        if (left > 0) this.probingForSource.set(source, left);
        else this.probingForSource.delete(source);
      }
    }
    if (result === 'free') return this.offerOrCommit(req, mac, ip);
    // A conflict found by a background probe was already quarantined there.
    if (this.book.leaseAt(ip)?.state !== 'declined') this.quarantineConflict(ip);
    if (attempt >= MAX_PROBE_ATTEMPTS) return drop('probe-conflicts', `${attempt} probed addresses were in use`);
    const next = this.book.allocate();
    if (next === null) return drop('pool-full', `no free address for ${mac}`);
    if (this.book.leaseAt(next) !== undefined) return this.offerOrCommit(req, mac, next);
    return this.probeThenOffer(req, mac, next, attempt + 1);
  }

  private quarantineConflict(ip: IPv4): void {
    this.book.decline(ip, this.o.declineQuarantineMs);
    this.o.onConflict?.({ type: 'CONFLICT', mac: '', ip, hostname: null, detail: 'address answered an ARP probe' });
  }

  // ---- REQUEST ----

  private request(req: IncomingRequest, mac: string): FinalDecision {
    const m = req.message;
    const serverId = m.options.serverIdentifier;
    const requested = m.options.requestedIp;
    if (serverId !== undefined && serverId !== this.o.network.serverIp) {
      // SELECTING, and the client chose another server: forget our offer, stay silent (RFC 2131 §4.3.2).
      const offer = this.offers.remove(mac);
      if (offer) this.book.abandon(offer.ip, mac);
      this.forgetPortIfIdle(mac);
      return drop('not-for-us', `client chose server ${formatIPv4(serverId)}`);
    }
    const ip = requested ?? (m.ciaddr !== 0 ? m.ciaddr : undefined);
    if (ip === undefined) return drop('request-without-address', 'REQUEST with neither option 50 nor ciaddr');
    const state = serverId !== undefined ? 'selecting' : requested !== undefined && m.ciaddr === 0 ? 'init-reboot' : 'renewing';
    const name = clientName(m.options);
    const verdict = this.assignable(mac, ip, name.label);
    if (!verdict.ok) {
      const event: LeaseEvent = { type: 'NAK', mac, ip, hostname: name.label, detail: `${state}: ${verdict.why}` };
      return this.reply(req, { type: MessageType.Nak, yiaddr: 0, event, commit: false, nakMessage: verdict.why });
    }
    const source = this.sourceOf(req);
    if (source !== null && this.isNewBinding(mac, ip) && !this.newLeases.take(source)) return this.withdraw(source, mac, ip);
    this.ready.remove(ip);
    const { lease, nameNote } = this.bind(m, mac, ip);
    this.rememberPort(req, mac);
    const detail = nameNote ? `${state}; ${nameNote}` : state;
    return this.reply(req, { type: MessageType.Ack, yiaddr: ip, event: { type: 'ACK', mac, ip, hostname: lease.hostname, detail }, commit: true });
  }

  /** RFC 2131 §4.3.2: may this client have this address? We are authoritative for the bridge subnet. */
  private assignable(mac: string, ip: IPv4, label: string | null): Assignability {
    const { serverIp, prefixLength } = this.o.network;
    if (!inSubnet(ip, serverIp, prefixLength)) return { ok: false, why: `${formatIPv4(ip)} is not on this network` };
    const holder = this.book.leaseAt(ip);
    const heldByOther = holder !== undefined && this.book.isActive(holder) && holder.mac !== mac;
    const reservation = this.book.reservationOf(mac);
    if (reservation) {
      if (reservation.ip !== ip) return { ok: false, why: `${mac} has reserved address ${formatIPv4(reservation.ip)}` };
      return heldByOther ? { ok: false, why: `${formatIPv4(ip)} is still leased to ${holder.mac}` } : { ok: true };
    }
    const byName = this.nameReservedAddress(mac, label);
    // dnsmasq NAKs too ("static lease available"): the client comes back with a DISCOVER and gets it.
    if (byName !== null && byName !== ip) return { ok: false, why: `${formatIPv4(byName)} is reserved for host name ${label}` };
    if (byName === ip) return { ok: true };
    const heldByName = this.book.nameReservedAt(ip) !== undefined && holder?.mac === mac && this.book.isActive(holder);
    if (this.book.isReserved(ip) && !heldByName) return { ok: false, why: `${formatIPv4(ip)} is reserved for another client` };
    if (heldByOther) return { ok: false, why: `${formatIPv4(ip)} is leased to another client` };
    if (holder && holder.state === 'declined' && holder.expiresAt > this.o.now()) {
      return { ok: false, why: `${formatIPv4(ip)} is quarantined after a conflict` };
    }
    const offer = this.offers.forIp(ip);
    if (offer && offer.mac !== mac) return { ok: false, why: `${formatIPv4(ip)} is offered to another client` };
    if (holder && holder.mac === mac && this.book.isActive(holder)) return { ok: true };
    if (offer && offer.mac === mac) return { ok: true };
    if (!this.book.inRange(ip)) return { ok: false, why: `${formatIPv4(ip)} is outside the range` };
    if (this.book.isFree(ip) || this.ready.has(ip)) return { ok: true };
    return { ok: false, why: `${formatIPv4(ip)} is not available` };
  }

  /**
   * Binds the lease and settles its DNS name: a reservation's name, else the client's own if nobody else holds it.
   * `nameNote` says why a requested name was changed or refused, for the log.
   */
  private bind(m: DhcpMessage, mac: string, ip: IPv4): { lease: Lease; nameNote: string | null } {
    this.offers.remove(mac);
    const reservation = this.book.reservationOf(mac);
    let name: string | null;
    let nameNote: string | null = null;
    if (reservation?.name) {
      name = reservation.name;
    } else {
      const requested = clientName(m.options);
      // An address reserved by host name carries that name, whatever its holder sends at renewal.
      const reservedName = this.book.nameReservedAt(ip);
      name = reservedName ?? requested.label;
      if (reservedName === undefined && requested.changed) nameNote = `name ${quote(requested.raw)} used as ${quote(name)}`;
      if (name !== null && this.o.unclaimableNames?.has(name)) {
        nameNote = `name ${quote(name)} means something to resolvers (localhost, wpad, ns...); no DNS name given`;
        name = null;
      }
      const holder = name === null ? undefined : this.o.names.heldByOther(name, mac);
      if (holder) {
        nameNote = `name ${quote(name)} is held by ${holder.source === 'reservation' ? 'a reservation for' : 'the lease of'} ${holder.mac}; no DNS name given`;
        name = null;
      }
    }
    const lease = this.book.bind({
      ip,
      mac,
      clientId: copyOrNull(m.options.clientId),
      hostname: name,
      durationMs: this.o.leaseSeconds * 1000,
    });
    this.o.names.claim(mac, ip, name, lease.expiresAt);
    return { lease, nameNote };
  }

  // ---- DECLINE, RELEASE, INFORM ----

  private decline(req: IncomingRequest, mac: string): FinalDecision {
    const ip = req.message.options.requestedIp;
    if (ip === undefined) return drop('request-without-address', 'DECLINE without option 50');
    const lease = this.book.leaseAt(ip);
    const offer = this.offers.forMac(mac);
    // Only an active lease or a pending offer counts: an ended or quarantined record is nobody's address any more.
    const leased = lease !== undefined && lease.mac === mac && this.book.isActive(lease);
    if (!leased && !(offer !== undefined && offer.ip === ip)) {
      return drop('not-for-us', `${mac} declined ${formatIPv4(ip)}, which is not its address`);
    }
    if (this.book.isReserved(ip)) {
      this.offers.remove(mac);
      return { kind: 'silent', event: { type: 'DECLINE', mac, ip, hostname: lease?.hostname ?? null, detail: 'reserved address kept' } };
    }
    const source = this.sourceOf(req);
    if (source !== null && !this.declines.take(source)) {
      return drop(
        'port-decline-limit',
        `${describeSource(source)} has used its ${PORT_DECLINE_LIMIT} declines an hour; ${mac}'s DECLINE of ${formatIPv4(ip)} ignored`,
      );
    }
    this.offers.remove(mac);
    this.book.decline(ip, this.o.declineQuarantineMs);
    this.o.names.removeLease(mac, ip);
    this.forgetPortIfIdle(mac);
    return { kind: 'silent', event: { type: 'DECLINE', mac, ip, hostname: lease?.hostname ?? null, detail: 'address quarantined' } };
  }

  private release(m: DhcpMessage, mac: string): FinalDecision {
    const ip = m.ciaddr;
    const lease = this.book.leaseAt(ip);
    if (!lease || lease.mac !== mac || !this.book.isActive(lease)) {
      return drop('not-for-us', `${mac} released ${formatIPv4(ip)}, which it does not hold`);
    }
    this.book.release(ip);
    this.o.names.removeLease(mac, ip);
    this.withdrawOffer(mac, ip);
    this.forgetPortIfIdle(mac);
    return { kind: 'silent', event: { type: 'RELEASE', mac, ip, hostname: lease.hostname } };
  }

  /**
   * A lease that ends takes the client's pending offer of the same address with it: the address goes back to the pool
   * and may be offered to someone else, so the old offer must not hand it out a second time (found by the fuzz test).
   */
  private withdrawOffer(mac: string, ip: IPv4): void {
    if (this.offers.forMac(mac)?.ip === ip) this.offers.remove(mac);
  }

  private inform(req: IncomingRequest, mac: string): FinalDecision {
    const ip = req.message.ciaddr;
    return this.reply(req, { type: MessageType.Ack, yiaddr: 0, event: { type: 'INFORM', mac, ip, hostname: null }, commit: false, leaseSeconds: null });
  }

  private reply(req: IncomingRequest, spec: ReplyPlan): FinalDecision {
    const mac = clientMac(req.message) as string;
    const { type, yiaddr } = spec;
    const reply = buildReply({
      request: req.message,
      type,
      yiaddr,
      network: this.o.network,
      leaseSeconds: spec.leaseSeconds === undefined ? this.o.leaseSeconds : spec.leaseSeconds,
      rapidCommit: spec.rapidCommit ?? false,
      nakMessage: spec.nakMessage ?? null,
    });
    return { kind: 'reply', reply, destination: replyDestination(req.message, type, yiaddr, req.frameSrcMac, mac), event: spec.event, commit: spec.commit };
  }

  // ---- identity and fair shares ----

  /** The fair-share source of a request: its bridge port, else its frame MAC; null for a (trusted) relay. */
  private sourceOf(req: IncomingRequest): string | null {
    if (req.message.giaddr !== 0) return null;
    return req.port !== 0 ? `port ${req.port}` : `mac ${req.frameSrcMac}`;
  }

  /**
   * Would binding ip to mac give the client a new share of the pool? Not for a renewal or a change of address (it
   * still holds one), a reservation (outside the pool), or a client coming back to an address it held before.
   */
  private isNewBinding(mac: string, ip: IPv4): boolean {
    if (this.book.reservationOf(mac) !== undefined || this.book.nameReservedAt(ip) !== undefined) return false;
    if (this.book.activeLeaseOf(mac) !== undefined) return false;
    return this.book.leaseAt(ip)?.mac !== mac;
  }

  /** Before a new address is taken for a client of `source`: may it have one (now, counting its pending offers)? */
  private newShareRefused(source: string, mac: string): FinalDecision | null {
    const pending = this.offers.countFor(source) + (this.probingForSource.get(source) ?? 0);
    if (this.newLeases.available(source) - pending < 1) return this.leaseLimitDrop(source, mac);
    if (pending >= PORT_OFFER_LIMIT) {
      return drop('port-offer-limit', `${describeSource(source)} already holds ${pending} offers (or probes) of new addresses; no offer for ${mac}`);
    }
    return null;
  }

  /** A new binding refused at the last step: no address stays held for the client (its offer, if any, goes too). */
  private withdraw(source: string, mac: string, ip: IPv4): FinalDecision {
    const offer = this.offers.remove(mac);
    if (offer) this.book.abandon(offer.ip, mac);
    if (!this.ready.has(ip)) this.book.abandon(ip, mac);
    this.forgetPortIfIdle(mac);
    return this.leaseLimitDrop(source, mac);
  }

  private leaseLimitDrop(source: string, mac: string): FinalDecision {
    const limit = this.o.portLeaseLimit ?? PORT_LEASE_LIMIT;
    return drop('port-lease-limit', `${describeSource(source)} has had its ${limit} new leases an hour; none for ${mac}`);
  }

  /**
   * A client bound on one bridge port asks from another: refused while the old port exists (someone else is using its
   * MAC), allowed when the old port is gone (the container moved or restarted on a new veth). Port 0 (unknown) is
   * neither.
   */
  private portRefusal(mac: string, port: number): FinalDecision | null {
    if (port === 0) return null;
    const bound = this.portOf.get(mac);
    if (bound === undefined || bound === port) return null;
    if (this.holdsLeaseOrOffer(mac) && (this.o.portExists?.(bound) ?? true)) {
      return drop('port-mismatch', `${mac} is bound on bridge port ${bound} but asked from port ${port}`);
    }
    this.portOf.delete(mac);
    return null;
  }

  private rememberPort(req: IncomingRequest, mac: string): void {
    if (req.message.giaddr === 0 && req.port !== 0) this.portOf.set(mac, req.port);
  }

  private holdsLeaseOrOffer(mac: string): boolean {
    if (this.offers.forMac(mac) !== undefined) return true;
    return this.book.activeLeaseOf(mac) !== undefined;
  }

  /** Keeps portOf to the clients with an offer or a lease. */
  private forgetPortIfIdle(mac: string): void {
    if (this.portOf.has(mac) && !this.holdsLeaseOrOffer(mac)) this.portOf.delete(mac);
  }
}

function copyOrNull(bytes: Buffer | undefined): Buffer | null {
  return bytes === undefined ? null : Buffer.from(bytes);
}

function describeSource(source: string): string {
  return source.startsWith('port ') ? `bridge port ${source.slice(5)}` : `MAC ${source.slice(4)} (port unknown)`;
}

function drop(reason: DropReason, detail: string): FinalDecision {
  return { kind: 'drop', reason, detail };
}
