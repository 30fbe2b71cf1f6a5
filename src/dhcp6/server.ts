/**
 * The DHCPv6 server's decisions (RFC 8415 §18.3) with no sockets: handle() takes one UDP payload that arrived on the
 * bridge and its wire identity (frame source MAC, IPv6 source, whether it was sent to ff02::1:2) and returns what to
 * do — a reply's bytes and whether its bindings must be durable before it leaves (commit), silence, or a drop with a
 * named reason — like the DHCPv4 server's Decision. Message validation is validate.ts (§16), the bytes are reply.ts's,
 * who holds which address is the Address6Book's (leases/). Without a book the server is stateless (RFC 8415 §6.1):
 * Information-request gets DNS servers and the domain list; address requests get NoAddrsAvail.
 */
import type { Address6Book, Owner6 } from '../leases/address6-book.ts';
import { toHostLabel } from '../leases/host-label.ts';
import { formatIPv6, ipv6FromBytes, ipv6ToBytes, parseIPv6, samePrefix } from '../leases/ipv6-number.ts';
import type { StoredLease6 } from '../leases/lease6.ts';
import { findOption, type Parse6Failure, parseDhcp6Message } from './message.ts';
import { decodeClientFqdn, FQDN_O, FQDN_S, type IaNa, type IaNaOut } from './options.ts';
import { buildReply, type ReplyPlan } from './reply.ts';
import { type ValidationDrop, type ValidMessage, validateClientMessage } from './validate.ts';
import { CLIENT_PORT, MAX_ZERO_LIFETIME_ECHOES, MessageType, Option6, StatusCode } from './vocabulary.ts';

/** RFC 8415 §21.23 / §7.6 IRT_DEFAULT: how often a stateless client asks again (86 400 s). */
const INFORMATION_REFRESH_SECONDS = 86_400;
/** §21.8: the highest preference makes a client take our Advertise at once instead of waiting for others (§18.2.1). */
const ADVERTISE_PREFERENCE = 255;
/** The on-link prefix length of the bridge (RFC 4291 §2.5.1: interface identifiers are 64 bits). */
const ON_LINK_PREFIX_LENGTH = 64;

export interface Dhcp6ServerOptions {
  /** Our DUID (serverDuidFromMac(bridge MAC), duid.ts). */
  serverDuid: Buffer;
  /** The bridge's IPv6 address (text): the on-link /64 for Confirm, and the DNS server unless dnsServers says. */
  bridgeAddress: string;
  /** DNS servers to announce (text); default [bridgeAddress]. */
  dnsServers?: readonly string[];
  /** The search domain (--domain); '' leaves option 24 out. */
  domain: string;
  /** Valid and preferred lifetime of an address (the DHCPv4 lease time, --lease-time). */
  leaseSeconds: number;
  /** Answer a Solicit carrying Rapid Commit with a committed Reply (RFC 8415 §18.3.1). */
  rapidCommit: boolean;
  /** The --range6 address book; null: stateless only. */
  book: Address6Book | null;
  /** Labels no client may hold (leases/names.ts unclaimableNames(domain)). */
  unclaimableNames?: ReadonlySet<string>;
  /** Whether another client already holds this name (HostNames.heldByOther): then no name is given. */
  nameHeldByOther?: (name: string, mac: string) => boolean;
  /**
   * Asked before an address is taken from the range for an IA that holds none (a new offer, or a binding without
   * one): false refuses it (NoAddrsAvail, event detail 'new-address-limit'). The daemon passes the DHCPv4 server's
   * per-bridge-port token buckets (--port-lease-limit) here, so one port cannot drain the range with forged MACs.
   * Default: always allowed (the book's MAX_BINDINGS_PER_CLIENT, MAX_OFFERS6 and MAX_LEASES6 still bound it).
   */
  takeNewAddress?: (wire: Wire6) => boolean;
  /** Default INFORMATION_REFRESH_SECONDS. */
  informationRefreshSeconds?: number;
}

/** Who sent the payload, from the wire (never from a field the sender writes). */
export interface Wire6 {
  /** Ethernet source of the frame: the part of a binding's owner a client cannot choose (with its DUID and IAID). */
  srcMac: string;
  /** IPv6 source address (text): the reply goes there, port 546 (§18.3). */
  srcIp: string;
  /** Sent to ff02::1:2 (true) or to one of our unicast addresses (false). */
  multicast: boolean;
  /** The bridge port (ifindex) the frame came in on; 0 when unknown. Only passed on to takeNewAddress. */
  port?: number;
}

export type Lease6EventType = 'ADVERTISE' | 'BIND' | 'RENEW' | 'REBIND' | 'RELEASE' | 'DECLINE' | 'NO-ADDRS' | 'NO-BINDING' | 'NOT-ON-LINK' | 'EXPIRE';

/** One binding's change, for the log, DNS names (hostname is validated by toHostLabel) and metrics. */
export interface Lease6Event {
  type: Lease6EventType;
  mac: string;
  ip: string | null;
  iaid: number | null;
  hostname: string | null;
  /** End of the valid lifetime (epoch ms) for BIND/RENEW/REBIND. */
  expiresAt: number | null;
  detail?: string;
}

export type Dhcp6DropReason = Parse6Failure | ValidationDrop;

export type Dhcp6Decision =
  | {
      kind: 'reply';
      /** The UDP payload to send. */
      payload: Buffer;
      messageType: number;
      /** The client's MAC and IPv6 source, UDP port 546. */
      destination: { mac: string; ip: string; port: number };
      /** True when bindings were staged: send only after store.commitThen says they are durable. */
      commit: boolean;
      events: Lease6Event[];
    }
  /** Handled, and the RFC wants no answer (a Confirm without addresses). */
  | { kind: 'silent'; events: Lease6Event[]; detail: string }
  | { kind: 'drop'; reason: Dhcp6DropReason; detail: string };

/** Normal protocol life, not warnings: another server chosen. */
export const ROUTINE_DROPS6: ReadonlySet<Dhcp6DropReason> = new Set<Dhcp6DropReason>(['not-for-us']);

interface Exchange {
  valid: ValidMessage;
  wire: Wire6;
  mac: string;
  duidHex: string;
  hostname: string | null;
  /** Whether the message carried a Client FQDN at all: a Renew without one keeps the binding's name. */
  sentName: boolean;
  /** Client FQDN to answer with (RFC 4704 §5), when a name was accepted. */
  fqdn: { flags: number; name: string } | null;
}

/** What one IA_NA came to. */
interface IaOutcome {
  out: IaNaOut;
  event: Lease6Event | null;
  staged: boolean;
}

export class Dhcp6Server {
  private readonly dnsServers: Buffer[];
  private readonly bridge: bigint;

  constructor(private readonly o: Dhcp6ServerOptions) {
    const bridge = parseIPv6(o.bridgeAddress);
    if (bridge === null) throw new RangeError(`bad bridge IPv6 address ${o.bridgeAddress}`);
    this.bridge = bridge;
    this.dnsServers = (o.dnsServers ?? [o.bridgeAddress]).map((text) => {
      const v = parseIPv6(text);
      if (v === null) throw new RangeError(`bad DNS server address ${text}`);
      return ipv6ToBytes(v);
    });
  }

  get stateful(): boolean {
    return this.o.book !== null;
  }

  handle(payload: Buffer, wire: Wire6): Dhcp6Decision {
    const parsed = parseDhcp6Message(payload);
    if (!parsed.ok) return { kind: 'drop', reason: parsed.reason, detail: parsed.detail };
    const checked = validateClientMessage(parsed.message, this.o.serverDuid, wire.multicast);
    if (!checked.ok) return { kind: 'drop', reason: checked.reason, detail: checked.detail };
    const x = this.exchange(checked.valid, wire);
    const type = x.valid.message.type;
    // §18.3.2/.4/.7/.8 (and RFC 3315 §18.2): a message the client may only multicast to us, sent by unicast.
    if (x.valid.unicast) return this.answer(x, { type: MessageType.Reply, status: status(StatusCode.UseMulticast, 'send to ff02::1:2') }, [], false);
    switch (type) {
      case MessageType.Solicit:
        return this.solicit(x);
      case MessageType.Request:
        return this.request(x);
      case MessageType.Renew:
      case MessageType.Rebind:
        return this.extend(x, type === MessageType.Rebind);
      case MessageType.Release:
      case MessageType.Decline:
        return this.giveUp(x, type === MessageType.Decline);
      case MessageType.Confirm:
        return this.confirm(x);
      default:
        return this.informationRequest(x);
    }
  }

  /**
   * Ends what is due in the book (bindings, probations, offers); call about once a second. Returns an EXPIRE event
   * per binding that ended (its name leaves DNS); the end of a probation is not an event (it had no owner).
   */
  tick(): Lease6Event[] {
    if (this.o.book === null) return [];
    return this.o.book
      .expireDue()
      .filter((l) => l.state === 'bound')
      .map((l) => event('EXPIRE', l.mac, l, l.hostname, { expiresAt: null }));
  }

  // ---- one function per RFC 8415 §18.3 rule set ----

  /** §18.3.1: Advertise what each IA_NA would get; with Rapid Commit (§21.14) bind at once and Reply. */
  private solicit(x: Exchange): Dhcp6Decision {
    const book = this.o.book;
    const rapid = this.o.rapidCommit && findOption(x.valid.message.options, Option6.RapidCommit) !== undefined;
    const outcomes = book === null ? [] : x.valid.iaNas.map((ia) => (rapid ? this.bindIa(x, ia) : this.offerIa(x, ia)));
    if (!outcomes.some((o) => o.out.addresses.length > 0)) {
      // §18.3.1: no address for any IA — an Advertise with only NoAddrsAvail (and, RFC 7550 §4.1, other configuration).
      const perIa = outcomes.flatMap((o) => (o.event === null ? [] : [o.event]));
      const events = perIa.length > 0 ? perIa : [event('NO-ADDRS', x.mac, null, null, { detail: book === null ? 'stateless only (no --range6)' : 'no IA_NA' })];
      return this.answer(
        x,
        { type: MessageType.Advertise, status: status(StatusCode.NoAddrsAvail, 'no addresses available'), preference: ADVERTISE_PREFERENCE },
        [],
        false,
        events,
      );
    }
    const type = rapid ? MessageType.Reply : MessageType.Advertise;
    const plan = rapid ? { type, rapidCommit: true } : { type, preference: ADVERTISE_PREFERENCE };
    return this.answerIas(x, plan, outcomes);
  }

  /**
   * §18.3.2: bind each IA_NA (the address we advertised, or a new one); NoAddrsAvail in the IA when none is left, and
   * NotOnLink in an IA that asks for an address off our /64 (the client then asks again without it, §18.2.10.1).
   */
  private request(x: Exchange): Dhcp6Decision {
    const outcomes = x.valid.iaNas.map((ia) => (this.offLink(ia).length > 0 ? notOnLink(x, ia) : this.bindIa(x, ia)));
    return this.answerIas(x, { type: MessageType.Reply }, outcomes);
  }

  /**
   * §18.3.4 Renew / §18.3.5 Rebind: extend the binding of each IA_NA; addresses it lists that are not its binding go
   * back with lifetimes 0. No binding: NoBinding in the IA — for a Rebind whose addresses are off our /64, those
   * addresses with lifetimes 0 instead, so the client drops them at once.
   */
  private extend(x: Exchange, rebind: boolean): Dhcp6Decision {
    const outcomes = x.valid.iaNas.map((ia) => this.extendIa(x, ia, rebind));
    return this.answerIas(x, { type: MessageType.Reply }, outcomes);
  }

  /** §18.3.7 Release / §18.3.8 Decline: end (or put on probation) each listed address the IA holds; Success. */
  private giveUp(x: Exchange, decline: boolean): Dhcp6Decision {
    const outcomes = x.valid.iaNas.map((ia) => this.giveUpIa(x, ia, decline));
    const message = decline ? 'declined' : 'released';
    return this.answerIas(x, { type: MessageType.Reply, status: status(StatusCode.Success, message) }, outcomes);
  }

  /** §18.3.3: are the client's addresses on this link (our /64)? No addresses: no reply at all. */
  private confirm(x: Exchange): Dhcp6Decision {
    const addresses = x.valid.iaNas.flatMap((ia) => ia.addresses.map((a) => ipv6FromBytes(a.address) as bigint));
    if (addresses.length === 0) return { kind: 'silent', events: [], detail: '§18.3.3: a Confirm without addresses gets no reply' };
    const onLink = addresses.every((a) => samePrefix(a, this.bridge, ON_LINK_PREFIX_LENGTH));
    const verdict = onLink ? status(StatusCode.Success, 'all addresses on link') : status(StatusCode.NotOnLink, 'an address is not on this link');
    return this.answer(x, { type: MessageType.Reply, status: verdict }, [], false);
  }

  /** §18.3.6: configuration only — DNS servers, domain list, and when to ask again (§21.23). */
  private informationRequest(x: Exchange): Dhcp6Decision {
    const refresh = x.valid.requested.includes(Option6.InformationRefreshTime) ? (this.o.informationRefreshSeconds ?? INFORMATION_REFRESH_SECONDS) : null;
    return this.answer(x, { type: MessageType.Reply, informationRefreshSeconds: refresh }, [], false);
  }

  // ---- per IA_NA ----

  private offerIa(x: Exchange, ia: IaNa): IaOutcome {
    const book = this.o.book as Address6Book;
    if (!this.mayTakeNew(book, x, ia)) return noAddress(x, ia, 'new-address-limit');
    const offered = book.offer(owner(x, ia));
    if (!offered.ok) return noAddress(x, ia, offered.reason);
    return { out: this.iaWith(ia.iaid, [offered.ip]), event: event('ADVERTISE', x.mac, { ip: offered.ip, iaid: ia.iaid }, x.hostname, {}), staged: false };
  }

  private bindIa(x: Exchange, ia: IaNa): IaOutcome {
    const book = this.o.book;
    if (book === null) return noAddress(x, ia, 'stateless only (no --range6)');
    if (!this.mayTakeNew(book, x, ia)) return noAddress(x, ia, 'new-address-limit');
    const bound = book.bind({ ...owner(x, ia), hostname: x.hostname, validMs: this.validMs });
    if (!bound.ok) return noAddress(x, ia, bound.reason);
    const lease = bound.lease;
    return { out: this.iaWith(ia.iaid, [lease.ip]), event: event('BIND', x.mac, lease, lease.hostname, { expiresAt: lease.expiresAt }), staged: true };
  }

  private extendIa(x: Exchange, ia: IaNa, rebind: boolean): IaOutcome {
    const lease = this.o.book?.renew(owner(x, ia), this.validMs, x.sentName ? x.hostname : undefined);
    if (lease !== undefined) {
      const held = ipv6ToBytes(parseIPv6(lease.ip) as bigint);
      const others = ia.addresses.filter((a) => !a.address.equals(held)).slice(0, MAX_ZERO_LIFETIME_ECHOES);
      const out = this.iaWith(ia.iaid, [lease.ip]);
      out.addresses.push(...others.map((a) => ({ address: a.address, preferred: 0, valid: 0 })));
      return { out, event: event(rebind ? 'REBIND' : 'RENEW', x.mac, lease, lease.hostname, { expiresAt: lease.expiresAt }), staged: true };
    }
    const offLink = this.offLink(ia);
    if (rebind && offLink.length > 0) {
      const addresses = offLink.slice(0, MAX_ZERO_LIFETIME_ECHOES).map((a) => ({ address: a.address, preferred: 0, valid: 0 }));
      const out: IaNaOut = { iaid: ia.iaid, t1: 0, t2: 0, addresses, status: null };
      return {
        out,
        event: event('NO-BINDING', x.mac, null, null, { iaid: ia.iaid, detail: 'rebind of addresses not on this link: lifetimes 0' }),
        staged: false,
      };
    }
    return noBinding(x, ia);
  }

  private giveUpIa(x: Exchange, ia: IaNa, decline: boolean): IaOutcome {
    const book = this.o.book;
    let staged = false;
    let ended: StoredLease6 | undefined;
    for (const a of ia.addresses) {
      const text = addressText(a.address);
      const lease = book === null ? undefined : decline ? book.decline(owner(x, ia), text) : book.release(owner(x, ia), text);
      if (lease !== undefined) {
        staged = true;
        ended = lease;
      }
    }
    if (ended === undefined) return noBinding(x, ia);
    // §18.3.7/§18.3.8: IAs the server has a binding for are not included in the Reply.
    return {
      out: { iaid: ia.iaid, t1: 0, t2: 0, addresses: [], status: null },
      event: event(decline ? 'DECLINE' : 'RELEASE', x.mac, ended, ended.hostname, {}),
      staged,
    };
  }

  /** An IA already holding an address asks for nothing new; otherwise the daemon's fair share decides. */
  private mayTakeNew(book: Address6Book, x: Exchange, ia: IaNa): boolean {
    return book.holds(owner(x, ia)) || (this.o.takeNewAddress?.(x.wire) ?? true);
  }

  /** The IA's addresses that are not on the bridge's /64. */
  private offLink(ia: IaNa): IaNa['addresses'] {
    return ia.addresses.filter((a) => !samePrefix(ipv6FromBytes(a.address) as bigint, this.bridge, ON_LINK_PREFIX_LENGTH));
  }

  // ---- building ----

  private get validMs(): number {
    return this.o.leaseSeconds * 1000;
  }

  /** Lifetimes from the lease time; T1/T2 at 0.5 and 0.8 of it (RFC 8415 §21.4's recommendation). */
  private iaWith(iaid: number, ips: readonly string[]): IaNaOut {
    const lifetime = this.o.leaseSeconds >>> 0;
    return {
      iaid,
      t1: Math.floor(lifetime * 0.5),
      t2: Math.floor(lifetime * 0.8),
      addresses: ips.map((ip) => ({ address: ipv6ToBytes(parseIPv6(ip) as bigint), preferred: lifetime, valid: lifetime })),
      status: null,
    };
  }

  /** A reply carrying what each IA_NA came to; it needs a commit when any of them staged a change. */
  private answerIas(x: Exchange, plan: Partial<ReplyPlan> & { type: number }, outcomes: readonly IaOutcome[]): Dhcp6Decision {
    const events = outcomes.flatMap((o) => (o.event === null ? [] : [o.event]));
    return this.answer(
      x,
      plan,
      outcomes.map((o) => o.out),
      outcomes.some((o) => o.staged),
      events,
    );
  }

  private answer(x: Exchange, plan: Partial<ReplyPlan> & { type: number }, ias: IaNaOut[], commit: boolean, events: Lease6Event[] = []): Dhcp6Decision {
    const givesAddresses = ias.some((ia) => ia.addresses.some((a) => a.valid > 0));
    const full: ReplyPlan = {
      transactionId: x.valid.message.transactionId,
      serverDuid: this.o.serverDuid,
      clientId: x.valid.clientId,
      status: null,
      ias: ias.filter((ia) => ia.addresses.length > 0 || ia.status !== null),
      preference: null,
      rapidCommit: false,
      config: { dnsServers: this.dnsServers, domains: this.o.domain === '' ? [] : [this.o.domain] },
      informationRefreshSeconds: null,
      // RFC 4704 §5: the name answer belongs with the addresses it names.
      fqdn: givesAddresses ? x.fqdn : null,
      ...plan,
    };
    return {
      kind: 'reply',
      payload: buildReply(full),
      messageType: full.type,
      destination: { mac: x.wire.srcMac, ip: x.wire.srcIp, port: CLIENT_PORT },
      commit,
      events,
    };
  }

  private exchange(valid: ValidMessage, wire: Wire6): Exchange {
    const mac = wire.srcMac.toLowerCase();
    const hostname = this.acceptedName(valid, mac);
    const sent = findOption(valid.message.options, Option6.ClientFqdn);
    const clientFlags = sent === undefined ? 0 : (decodeClientFqdn(sent)?.flags ?? 0);
    // RFC 4704 §5.2: S=1, we put the name in our zone; O=1 when that overrides a client that asked us not to.
    const fqdn =
      hostname === null
        ? null
        : { flags: FQDN_S | (clientFlags & FQDN_S ? 0 : FQDN_O), name: this.o.domain === '' ? hostname : `${hostname}.${this.o.domain}` };
    return { valid, wire, mac, duidHex: valid.clientId?.toString('hex') ?? '', hostname, sentName: sent !== undefined, fqdn };
  }

  /** The Client FQDN's first label through the DHCPv4 hostname rules, unless it is unclaimable or someone else's. */
  private acceptedName(valid: ValidMessage, mac: string): string | null {
    const sent = findOption(valid.message.options, Option6.ClientFqdn);
    const fqdn = sent === undefined ? null : decodeClientFqdn(sent);
    const first = fqdn?.labels[0];
    const label = first === undefined ? null : toHostLabel(first);
    if (label === null || this.o.unclaimableNames?.has(label)) return null;
    return this.o.nameHeldByOther?.(label, mac) ? null : label;
  }
}

/** The IA's owner in the book: the frame's MAC (never a sender-written field), the Client Identifier and the IAID. */
function owner(x: Exchange, ia: IaNa): Owner6 {
  return { mac: x.mac, duidHex: x.duidHex, iaid: ia.iaid };
}

function status(code: number, message: string): { code: number; message: string } {
  return { code, message };
}

function addressText(bytes: Buffer): string {
  return formatIPv6(ipv6FromBytes(bytes) as bigint);
}

function event(
  type: Lease6EventType,
  mac: string,
  lease: { ip: string; iaid: number } | null,
  hostname: string | null,
  extra: { expiresAt?: number | null; iaid?: number; detail?: string },
): Lease6Event {
  const e: Lease6Event = { type, mac, ip: lease?.ip ?? null, iaid: lease?.iaid ?? extra.iaid ?? null, hostname, expiresAt: extra.expiresAt ?? null };
  if (extra.detail !== undefined) e.detail = extra.detail;
  return e;
}

function noAddress(x: Exchange, ia: IaNa, why: string): IaOutcome {
  const out: IaNaOut = { iaid: ia.iaid, t1: 0, t2: 0, addresses: [], status: status(StatusCode.NoAddrsAvail, 'no addresses available') };
  return { out, event: event('NO-ADDRS', x.mac, null, null, { iaid: ia.iaid, detail: why }), staged: false };
}

function notOnLink(x: Exchange, ia: IaNa): IaOutcome {
  const out: IaNaOut = { iaid: ia.iaid, t1: 0, t2: 0, addresses: [], status: status(StatusCode.NotOnLink, 'an address is not on this link') };
  return { out, event: event('NOT-ON-LINK', x.mac, null, null, { iaid: ia.iaid, detail: 'asked for an address not on this link' }), staged: false };
}

function noBinding(x: Exchange, ia: IaNa): IaOutcome {
  const out: IaNaOut = { iaid: ia.iaid, t1: 0, t2: 0, addresses: [], status: status(StatusCode.NoBinding, 'no binding for this IA') };
  return { out, event: event('NO-BINDING', x.mac, null, null, { iaid: ia.iaid }), staged: false };
}
