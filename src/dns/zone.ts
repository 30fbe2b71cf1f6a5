/**
 * The authoritative zones: `--domain` (default lxc) with an A record per named lease or reservation, and the reverse
 * zone of the bridge subnet with the matching PTRs. Answers carry AA; a name without the asked type gets NODATA and a
 * missing name NXDOMAIN, both with the SOA in authority so resolvers can cache them (RFC 2308). `--dns-record`s
 * (static-zone.ts) come after them: they fill names the lease zone denies, never a container's name.
 *
 * Every zone implements `Zone.answer(question)` once, on the parsed view of question.ts, and both the UDP fast path and
 * the general path call it (through `LocalZones.answer`, which also holds the zones' order and who may ask them): it
 * returns a `WireAnswer` (the common shapes, which the fast path writes as bytes without allocating), a `LocalAnswer`
 * (record objects), or null ("not mine"). Neither path decides anything about names.
 *
 * With IPv6 (`ZoneConfig.ipv6`), a name's AAAA records are its container's addresses (by MAC, from the lookup the
 * daemon passes in: learned from the neighbour table and DHCPv6), and the /64's ip6.arpa zone (nibble format, RFC
 * 3596 §2.5) answers their PTRs; a name without IPv6 addresses answers AAAA with NODATA as before.
 *
 * The reverse zone sits on the octet boundary at or above the subnet (a /23 gets the enclosing /16), so it holds
 * names of neighbouring networks too: those are not ours (null), and the server treats them like any foreign name
 * (forwarded for clients allowed to recurse, REFUSED otherwise) instead of denying their existence.
 */

import type { StaticRecord } from '../config/dns-records.ts';
import type { HostNames } from '../leases/names.ts';
import { formatIPv4, type IPv4, inSubnet, networkOf } from '../net/address.ts';
import { formatIPv6, parseIPv6 } from '../net/address6.ts';
import { BareNameZone, DotlessNameDenial } from './bare-name-zone.ts';
import { addressFromNibbles, ip6ArpaZone, nibblesBelow, PREFIX64_NIBBLES } from './ip6-reverse.ts';
import { type Answer, encodeRecordInto, type Question } from './message.ts';
import { NameQuestion, normalizeName, type ZoneApex, type ZoneQuestion, zoneApex } from './question.ts';
import { StaticZone } from './static-zone.ts';
import { Rcode, Type, typeName } from './vocabulary.ts';
import { wireName } from './wire-name.ts';

/**
 * The containers' IPv6 addresses as DNS sees them (the daemon passes its registry, src/leases/learned6.ts, which
 * has this shape; DNS never imports it): addresses by MAC, the MAC of an address, and a change counter.
 */
interface Ipv6Addresses {
  /** RFC 5952 text, in a stable order. */
  addressesOf(mac: string): readonly string[];
  /** The MAC using an address given in RFC 5952 text. */
  macOf(address: string): string | undefined;
  /** Bumped on every change: added to the zones' SOA serial. */
  readonly version: number;
}

interface ZoneIpv6Config {
  /** The bridge's IPv6 address (any text form): `ns.<domain>` AAAA, and its /64 is the ip6.arpa zone served. */
  serverIp: string;
  addresses: Ipv6Addresses;
}

interface ZoneConfig {
  domain: string;
  serverIp: IPv4;
  prefixLength: number;
  /** TTL of SOA/NS and the negative-caching TTL (SOA minimum). */
  soaTtl: number;
  /** Upper bound for lease A/PTR TTLs; never longer than the lease's remaining time. Also the static records' TTL. */
  recordTtl: number;
  /** `--dns-record`s: answered by a static zone after the lease and reverse zones (none: no such zone at all). */
  records?: readonly StaticRecord[];
  /** The bridge's IPv6 side (absent: IPv4 only, every AAAA of a container's name is NODATA, no ip6.arpa zone). */
  ipv6?: ZoneIpv6Config;
  /** `--bare-names`: a container's single-label name answered as `NAME.<domain>` (bare-name-zone.ts); absent: off. */
  bareNames?: boolean;
}

export interface LocalAnswer {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/** The label reserved for the zone's name server record. */
export const NAME_SERVER_LABEL = 'ns';

/**
 * SOA timers. Nobody transfers these zones, but DNS linters check them: RFC 1912 §2.2 recommends refresh 1200–43200 s,
 * retry below refresh, expire 2–4 weeks; Zonemaster (ZONE01–04) wants refresh ≥ 14400, retry ≥ 3600, expire ≥ 604800
 * and above refresh. dnsmasq's auth zones use expire 1209600 too. The minimum (negative TTL, RFC 2308) stays the
 * configured soaTtl (30 s): short on purpose, a name appears as soon as its lease is bound.
 */
const SOA_REFRESH_SECONDS = 14_400;
const SOA_RETRY_SECONDS = 3_600;
const SOA_EXPIRE_SECONDS = 1_209_600;

/** in-addr.arpa zone on the octet boundary at or above the subnet, e.g. 10.0.0.0/24 → 0.0.10.in-addr.arpa. */
export function reverseZoneName(serverIp: IPv4, prefixLength: number): string {
  const octets = Math.max(1, Math.min(3, Math.floor(prefixLength / 8)));
  const network = networkOf(serverIp, octets * 8);
  const parts = formatIPv4(network).split('.').slice(0, octets).reverse();
  return `${parts.join('.')}.in-addr.arpa`;
}

/** Parses "d.c.b.a.in-addr.arpa" (already lowercased, no trailing dot) into an address. */
export function ptrNameToIp(name: string): IPv4 | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return null;
  const octets = [m[4], m[3], m[2], m[1]].map(Number);
  if (octets.some((o) => o > 255 || Number.isNaN(o))) return null;
  return octets.reduce((acc, o) => acc * 256 + (o as number), 0) >>> 0;
}

/**
 * A wire answer: the two shapes the lease zone gives most (one A record; NXDOMAIN/NODATA with the SOA), as numbers
 * and one SOA record in wire form. Each zone fills its own one in place (no allocation per query); the fast path
 * writes it as bytes before the next question, the general path expands it to objects (`answerObjects`).
 */
export class WireAnswer {
  kind: 'address' | 'negative' = 'negative';
  rcode = 0;
  /** kind 'address': the A record's address and TTL (owner: the name as asked). */
  address = 0;
  ttl = 0;
  /** kind 'negative': the zone's SOA, as bytes (uncompressed) and as the object it was encoded from. */
  soaWire: Buffer = Buffer.alloc(0);
  soaRecord: Answer | null = null;

  /** This answer made one A record (NOERROR): each zone reuses one WireAnswer, so nothing is allocated. */
  setAddress(ip: IPv4, ttl: number): this {
    this.kind = 'address';
    this.rcode = Rcode.NoError;
    this.address = ip;
    this.ttl = ttl;
    return this;
  }

  /** This answer made NXDOMAIN or NODATA (`rcode`) with the zone's SOA in the authority section. */
  setNegative(rcode: number, soa: { wire: Buffer; record: Answer }): this {
    this.kind = 'negative';
    this.rcode = rcode;
    this.soaWire = soa.wire;
    this.soaRecord = soa.record;
    return this;
  }
}

export type ZoneAnswer = WireAnswer | LocalAnswer;

/** One zone: answers every question at or below its apex it owns, returns null for the rest ("not mine"). */
export interface Zone {
  readonly apex: ZoneApex;
  /** Answered to trusted clients only (the reverse zone: from outside it would list every container). */
  readonly trustedOnly: boolean;
  answer(question: ZoneQuestion): ZoneAnswer | null;
}

/** A zone's answer as record objects (the general path's form). */
export function answerObjects(answer: ZoneAnswer, asked: string): LocalAnswer {
  if (!(answer instanceof WireAnswer)) return answer;
  if (answer.kind === 'address') {
    const record: Answer = { type: 'A', name: asked, ttl: answer.ttl, class: 'IN', data: formatIPv4(answer.address) };
    return { rcode: answer.rcode, answers: [record], authorities: [], additionals: [] };
  }
  return { rcode: answer.rcode, answers: [], authorities: answer.soaRecord ? [answer.soaRecord] : [], additionals: [] };
}

/** What both built-in zones share: the SOA and NS records, the apex answer, negative answers and TTLs. */
class ZoneRecords {
  private soaSerial = -1;
  private soaCache = new Map<string, { record: Answer; wire: Buffer }>();
  /** The bridge's IPv6 address in RFC 5952 text (null: no IPv6). */
  readonly serverIp6: string | null;

  constructor(
    readonly config: ZoneConfig,
    readonly names: HostNames,
    readonly domain: string,
    private readonly now: () => number,
  ) {
    const bytes = config.ipv6 ? parseIPv6(config.ipv6.serverIp) : null;
    this.serverIp6 = bytes === null ? null : formatIPv6(bytes);
  }

  /** The SOA serial: changes of names and of IPv6 addresses both make a new one. */
  serial(): number {
    return (this.names.serial + (this.config.ipv6?.addresses.version ?? 0)) >>> 0;
  }

  /** The IPv6 addresses of `mac` (none without IPv6). */
  addressesOf(mac: string): readonly string[] {
    return this.config.ipv6?.addresses.addressesOf(mac) ?? [];
  }

  /** Short, and never beyond the lease's end (a name must not outlive its lease in caches). */
  ttlFor(expiresAt: number | null): number {
    if (expiresAt === null) return this.config.recordTtl;
    const remaining = Math.floor((expiresAt - this.now()) / 1000);
    return Math.max(0, Math.min(this.config.recordTtl, remaining));
  }

  nameServer(): string {
    return `${NAME_SERVER_LABEL}.${this.domain}`;
  }

  apexAnswer(asked: string, apex: string, type: number): LocalAnswer {
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    if (type === Type.SOA || type === Type.ANY) answers.push(this.soa(apex, asked));
    if (type === Type.NS || type === Type.ANY) {
      answers.push({ type: 'NS', name: asked, ttl: this.config.soaTtl, class: 'IN', data: this.nameServer() });
      additionals.push({ type: 'A', name: this.nameServer(), ttl: this.config.soaTtl, class: 'IN', data: formatIPv4(this.config.serverIp) });
      if (this.serverIp6 !== null) additionals.push({ type: 'AAAA', name: this.nameServer(), ttl: this.config.soaTtl, class: 'IN', data: this.serverIp6 });
    }
    if (answers.length === 0) return this.negative(apex, Rcode.NoError);
    return { rcode: Rcode.NoError, answers, authorities: [], additionals };
  }

  negative(apex: string, rcode: number): LocalAnswer {
    return { rcode, answers: [], authorities: [this.soa(apex)], additionals: [] };
  }

  /** `apex`'s SOA record (owner: the apex) as an object and in wire form, made again only when the serial changed. */
  apexSoa(apex: string): { record: Answer; wire: Buffer } {
    const serial = this.serial();
    if (serial !== this.soaSerial) {
      this.soaCache.clear();
      this.soaSerial = serial;
    }
    let soa = this.soaCache.get(apex);
    if (soa === undefined) {
      const record = this.soa(apex);
      const scratch = Buffer.alloc(1024);
      soa = { record, wire: Buffer.from(scratch.subarray(0, encodeRecordInto(record, scratch, 0))) };
      this.soaCache.set(apex, soa);
    }
    return soa;
  }

  soa(apex: string, ownerAsAsked?: string): Answer {
    return {
      type: 'SOA',
      name: ownerAsAsked ?? apex,
      ttl: this.config.soaTtl,
      class: 'IN',
      data: {
        mname: this.nameServer(),
        rname: `hostmaster.${this.domain}`,
        serial: this.serial(),
        refresh: SOA_REFRESH_SECONDS,
        retry: SOA_RETRY_SECONDS,
        expire: SOA_EXPIRE_SECONDS,
        minimum: this.config.soaTtl,
      },
    };
  }
}

/** The `--domain` zone: `HOST.<domain>` A records from HostNames, `ns.<domain>`, and the apex's SOA and NS. */
class LeaseZone implements Zone {
  readonly apex: ZoneApex;
  readonly trustedOnly = false;
  private readonly wire = new WireAnswer();

  constructor(private readonly records: ZoneRecords) {
    this.apex = zoneApex(records.domain, wireName(records.domain));
  }

  answer(q: ZoneQuestion): ZoneAnswer | null {
    const below = q.belowApex(this.apex);
    if (below < 0) return null;
    if (q.otherClass) return this.records.negative(this.apex.name, Rcode.Refused);
    if (below === 0) return this.records.apexAnswer(q.askedName(), this.apex.name, q.type);
    if (below > 1) return this.negative(Rcode.NxDomain);
    if (q.lowerLabelAt(0) === NAME_SERVER_LABEL) {
      const { serverIp, soaTtl } = this.records.config;
      return this.addressAnswer(q, serverIp, soaTtl, this.records.serverIp6 === null ? [] : [this.records.serverIp6]);
    }
    return this.containerAnswer(q) ?? this.negative(Rcode.NxDomain);
  }

  /**
   * The answer about the container (or reservation) named by `q`'s first label, the one `NAME.<domain>` gets, owner
   * as asked; null when no container holds that name. The bare-name zones (bare-name-zone.ts) ask it too.
   */
  containerAnswer(q: ZoneQuestion): ZoneAnswer | null {
    const entry = this.records.names.lookup(q.lowerLabelAt(0));
    if (entry === undefined) return null;
    const ipv6 = q.type === Type.AAAA ? this.records.addressesOf(entry.mac) : [];
    return this.addressAnswer(q, entry.ip, this.records.ttlFor(entry.expiresAt), ipv6);
  }

  /** NXDOMAIN with the zone's SOA. */
  noSuchName(): ZoneAnswer {
    return this.negative(Rcode.NxDomain);
  }

  /** A name holding `ip` (and `ipv6`): its A (ANY), its AAAA, or NODATA for any other type. */
  private addressAnswer(q: ZoneQuestion, ip: IPv4, ttl: number, ipv6: readonly string[]): ZoneAnswer {
    if (q.type === Type.AAAA) return ipv6.length === 0 ? this.negative(Rcode.NoError) : aaaaAnswer(q.askedName(), ipv6, ttl);
    if (q.type !== Type.A && q.type !== Type.ANY) return this.negative(Rcode.NoError);
    return this.wire.setAddress(ip, ttl);
  }

  private negative(rcode: number): WireAnswer {
    return this.wire.setNegative(rcode, this.records.apexSoa(this.apex.name));
  }
}

/** The AAAA records of a name (owner: the name as asked). */
function aaaaAnswer(asked: string, addresses: readonly string[], ttl: number): LocalAnswer {
  const answers: Answer[] = addresses.map((data) => ({ type: 'AAAA', name: asked, ttl, class: 'IN', data }));
  return { rcode: Rcode.NoError, answers, authorities: [], additionals: [] };
}

/**
 * The ip6.arpa zone of the bridge's /64 (RFC 3596 §2.5, nibble format): the PTR of each address a container uses
 * (its MAC's name, as the lease zone's AAAA gives the other way), of the server's own address (`ns.<domain>`), the
 * apex's SOA and NS; a node between the apex and the addresses is an empty non-terminal (NODATA, RFC 8020), any other
 * name in the zone NXDOMAIN with the SOA. For trusted clients only, like the IPv4 reverse zone.
 */
class Ip6ReverseZone implements Zone {
  readonly apex: ZoneApex;
  readonly trustedOnly = true;
  private readonly prefix: Buffer;

  constructor(
    private readonly records: ZoneRecords,
    ipv6: ZoneIpv6Config,
  ) {
    const server = parseIPv6(ipv6.serverIp);
    if (server === null) throw new RangeError(`${JSON.stringify(ipv6.serverIp)} is not an IPv6 address`);
    this.prefix = server;
    const name = ip6ArpaZone(server);
    this.apex = zoneApex(name, wireName(name));
  }

  answer(q: ZoneQuestion): ZoneAnswer | null {
    const below = q.belowApex(this.apex);
    if (below < 0) return null;
    const apex = this.apex.name;
    if (q.otherClass) return this.records.negative(apex, Rcode.Refused);
    if (below === 0) return this.records.apexAnswer(q.askedName(), apex, q.type);
    const nibbles = nibblesBelow(q.lowerName(), apex);
    if (nibbles === null || nibbles.length > PREFIX64_NIBBLES) return this.records.negative(apex, Rcode.NxDomain);
    if (nibbles.length < PREFIX64_NIBBLES) return this.records.negative(apex, Rcode.NoError);
    const address = addressFromNibbles(this.prefix, nibbles);
    const target = address === null ? null : this.ptrTarget(formatIPv6(address));
    if (target === null) return this.records.negative(apex, Rcode.NxDomain);
    if (q.type !== Type.PTR && q.type !== Type.ANY) return this.records.negative(apex, Rcode.NoError);
    return {
      rcode: Rcode.NoError,
      answers: [{ type: 'PTR', name: q.askedName(), ttl: target.ttl, class: 'IN', data: target.name }],
      authorities: [],
      additionals: [],
    };
  }

  private ptrTarget(address: string): { name: string; ttl: number } | null {
    const records = this.records;
    if (address === records.serverIp6) return { name: records.nameServer(), ttl: records.config.soaTtl };
    const mac = records.config.ipv6?.addresses.macOf(address);
    const entry = mac === undefined ? undefined : records.names.nameOfMac(mac);
    return entry === undefined ? null : { name: `${entry.name}.${records.domain}`, ttl: records.ttlFor(entry.expiresAt) };
  }
}

/** The reverse zone of the bridge subnet: PTRs of named leases and reservations, and of the server's own address. */
class ReverseZone implements Zone {
  readonly apex: ZoneApex;
  readonly trustedOnly = true;

  constructor(private readonly records: ZoneRecords) {
    const name = reverseZoneName(records.config.serverIp, records.config.prefixLength);
    this.apex = zoneApex(name, wireName(name));
  }

  answer(q: ZoneQuestion): ZoneAnswer | null {
    const below = q.belowApex(this.apex);
    if (below < 0) return null;
    const name = q.lowerName();
    if (!this.isOurs(name)) return null;
    if (q.otherClass) return this.records.negative(this.apex.name, Rcode.Refused);
    if (below === 0) return this.records.apexAnswer(q.askedName(), this.apex.name, q.type);
    return this.ptrAnswer(q.askedName(), name, q.type);
  }

  /**
   * A name at or below the reverse zone's apex is ours when it is the apex, or when the network it names (each label
   * below the apex one more octet) overlaps the subnet and, if it goes on with non-octet labels, lies wholly inside it.
   */
  isOurs(name: string): boolean {
    const apex = this.apex.name;
    const { serverIp, prefixLength } = this.records.config;
    if (name === apex) return true;
    const below = name
      .slice(0, name.length - apex.length - 1)
      .split('.')
      .reverse();
    let octets = this.apex.labels - 2; // the apex's own octets (the labels before in-addr.arpa)
    let network = networkOf(serverIp, octets * 8);
    for (const label of below) {
      if (octets === 4 || !/^\d{1,3}$/.test(label) || Number(label) > 255) {
        return octets * 8 >= prefixLength; // junk below a node wholly inside the subnet: ours, NXDOMAIN
      }
      network = (network | (Number(label) << (8 * (3 - octets)))) >>> 0;
      octets++;
      const common = Math.min(octets * 8, prefixLength);
      if (networkOf(network, common) !== networkOf(serverIp, common)) return false;
    }
    return true;
  }

  private ptrAnswer(asked: string, name: string, type: number): LocalAnswer {
    const apex = this.apex.name;
    const { serverIp, prefixLength, soaTtl } = this.records.config;
    const ip = ptrNameToIp(name);
    if (ip === null) {
      // A network between the apex and the addresses (e.g. 1.0.10.in-addr.arpa in 10.0.0.0/23): an empty
      // non-terminal above the PTRs, so NODATA, not NXDOMAIN (RFC 8020: NXDOMAIN would deny the names below).
      const depth = name.split('.').length - 2;
      return this.records.negative(apex, depth < 4 && /^(\d{1,3}\.)+in-addr\.arpa$/.test(name) ? Rcode.NoError : Rcode.NxDomain);
    }
    if (!inSubnet(ip, serverIp, prefixLength)) return this.records.negative(apex, Rcode.NxDomain);
    let target: string;
    let ttl: number;
    if (ip === serverIp) {
      target = this.records.nameServer();
      ttl = soaTtl;
    } else {
      const entry = this.records.names.reverse(ip);
      if (!entry) return this.records.negative(apex, Rcode.NxDomain);
      target = `${entry.name}.${this.records.domain}`;
      ttl = this.records.ttlFor(entry.expiresAt);
    }
    if (type !== Type.PTR && type !== Type.ANY) return this.records.negative(apex, Rcode.NoError);
    return { rcode: Rcode.NoError, answers: [{ type: 'PTR', name: asked, ttl, class: 'IN', data: target }], authorities: [], additionals: [] };
  }
}

/** `LocalZones.answer`'s verdict for a zone's name asked by a client it is not for: the server answers REFUSED. */
export const REFUSED_TO_CLIENT = 'refused';

/**
 * Longest CNAME chain followed inside our zones (BIND follows 16, dnsmasq 10): `--dns-record`s may point at each other
 * in a loop, and the bound ends it; what is left is the resolver's to follow.
 */
const MAX_CNAME_CHAIN = 8;

/**
 * Our zones in their order of precedence (the lease zone, the reverse zone, the ip6.arpa zone, the static records,
 * any given, then with `bareNames` the bare-name zones, which so never take a name from another zone): the first zone owning the question answers it, except that a zone's NXDOMAIN lets a later zone that has the name answer
 * instead (so static records fill names no container holds, and a container's name always wins). This is the first
 * step of every query on both paths, before the cache and upstream. A CNAME answer is followed inside our zones.
 */
export class LocalZones {
  readonly domain: string;
  readonly reverseZone: string;
  /** The ip6.arpa zone of the bridge's /64; null without IPv6. */
  readonly reverseZone6: string | null;
  private readonly records: ZoneRecords;
  private readonly zones: readonly Zone[];

  constructor(config: ZoneConfig, names: HostNames, now: () => number = Date.now, more: readonly Zone[] = []) {
    this.domain = normalizeName(config.domain);
    this.records = new ZoneRecords(config, names, this.domain, now);
    const lease = new LeaseZone(this.records);
    const reverse = new ReverseZone(this.records);
    this.reverseZone = reverse.apex.name;
    const reverse6 = config.ipv6 ? [new Ip6ReverseZone(this.records, config.ipv6)] : [];
    this.reverseZone6 = reverse6[0]?.apex.name ?? null;
    const records = config.records ?? [];
    const fixed: Zone[] = records.length === 0 ? [] : [new StaticZone(records, this.domain, config.recordTtl, () => this.records.apexSoa(this.domain).record)];
    const bare = config.bareNames === true ? [new BareNameZone(lease), new DotlessNameDenial(lease)] : [];
    this.zones = [lease, reverse, ...reverse6, ...fixed, ...more, ...bare];
  }

  /**
   * The answer of the first zone owning `q`, REFUSED_TO_CLIENT when that zone is for trusted clients only and this
   * one is not, or null when no zone owns it (the cache and upstream may). Allocation-free for the lease zone's names.
   */
  answerFor(q: ZoneQuestion, trusted: boolean): ZoneAnswer | typeof REFUSED_TO_CLIENT | null {
    const answer = this.ownerAnswer(q, trusted);
    if (answer === null || answer === REFUSED_TO_CLIENT || answer instanceof WireAnswer) return answer;
    return this.followCname(answer, q.type, trusted);
  }

  private ownerAnswer(q: ZoneQuestion, trusted: boolean): ZoneAnswer | typeof REFUSED_TO_CLIENT | null {
    const zones = this.zones;
    let denied: ZoneAnswer | null = null;
    for (const zone of zones) {
      const answer = zone.answer(q);
      if (answer === null) continue;
      if (zone.trustedOnly && !trusted) return denied ?? REFUSED_TO_CLIENT;
      if (answer.rcode !== Rcode.NxDomain) return answer;
      denied ??= answer;
    }
    return denied;
  }

  /**
   * `answer` with the chain its CNAME starts, as far as our zones hold it (RFC 1034 §4.3.2): the target's records
   * appended, and the rcode and authority of the chain's end (RFC 6604). A target that is not ours ends the chain.
   */
  private followCname(answer: LocalAnswer, type: number, trusted: boolean): LocalAnswer {
    const typeText = typeName(type);
    if (type === Type.CNAME || type === Type.ANY || typeText === undefined) return answer;
    let result = answer;
    for (let hop = 0; hop < MAX_CNAME_CHAIN; hop++) {
      const last = result.answers[result.answers.length - 1];
      if (last?.type !== 'CNAME') break;
      const target = last.data;
      if (result.answers.some((r) => normalizeName(r.name) === target)) break; // a loop
      const next = this.ownerAnswer(new NameQuestion({ name: target, type: typeText, class: 'IN' } as Question), trusted);
      if (next === null || next === REFUSED_TO_CLIENT) break;
      const tail = answerObjects(next, target);
      result = { rcode: tail.rcode, answers: [...result.answers, ...tail.answers], authorities: tail.authorities, additionals: tail.additionals };
    }
    return result;
  }

  /** `--domain`'s SOA as a record and in wire form (the cluster's remote-name zones put it in their negative answers). */
  domainSoa(): { record: Answer; wire: Buffer } {
    return this.records.apexSoa(this.domain);
  }

  /** The answer, as record objects, of the zone owning `question` (whoever asks); null when no zone owns it. */
  answer(question: Question): LocalAnswer | null {
    const q = new NameQuestion(question);
    const answer = this.answerFor(q, true);
    return answer === null || answer === REFUSED_TO_CLIENT ? null : answerObjects(answer, q.askedName());
  }
}
