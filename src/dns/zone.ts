/**
 * The authoritative zones: `--domain` (default lxc) with an A record per named lease or reservation, and the reverse
 * zone of the bridge subnet with the matching PTRs. Answers carry AA; a name without the asked type gets NODATA and a
 * missing name NXDOMAIN, both with the SOA in authority so resolvers can cache them (RFC 2308).
 *
 * The reverse zone sits on the octet boundary at or above the subnet (a /23 gets the enclosing /16), so it holds
 * names of neighbouring networks too: those are not ours (`answer()` returns null), and the server treats them like
 * any foreign name (forwarded for clients allowed to recurse, REFUSED otherwise) instead of denying their existence.
 */
import { formatIPv4, inSubnet, networkOf, type IPv4 } from '../net/address.ts';
import type { HostNames, NameEntry } from '../leases/names.ts';
import { Rcode, encodeRecordInto, type Answer, type Question } from './message.ts';
import { wireName } from './fast-path.ts';

export interface ZoneConfig {
  domain: string;
  serverIp: IPv4;
  prefixLength: number;
  /** TTL of SOA/NS and the negative-caching TTL (SOA minimum). */
  soaTtl: number;
  /** Upper bound for lease A/PTR TTLs; never longer than the lease's remaining time. */
  recordTtl: number;
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
export const SOA_REFRESH_SECONDS = 14_400;
export const SOA_RETRY_SECONDS = 3_600;
export const SOA_EXPIRE_SECONDS = 1_209_600;

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

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function isAtOrBelow(name: string, apex: string): boolean {
  return name === apex || name.endsWith(`.${apex}`);
}

export class LocalZones {
  readonly domain: string;
  readonly reverseZone: string;
  /** The zones' names in wire form, lower-case (null when the fast path cannot read such names), and label counts. */
  readonly domainWire: Buffer | null;
  readonly domainLabels: number;
  readonly reverseZoneWire: Buffer | null;
  readonly reverseZoneLabels: number;
  private domainSoaWire: Buffer | null = null;
  private domainSoaSerial = -1;

  constructor(
    private readonly config: ZoneConfig,
    private readonly names: HostNames,
    private readonly now: () => number = Date.now,
  ) {
    this.domain = normalize(config.domain);
    this.reverseZone = reverseZoneName(config.serverIp, config.prefixLength);
    this.domainWire = wireName(this.domain);
    this.domainLabels = this.domain === '' ? 0 : this.domain.split('.').length;
    this.reverseZoneWire = wireName(this.reverseZone);
    this.reverseZoneLabels = this.reverseZone.split('.').length;
  }

  /**
   * The holder of the host name `label` (lower-case) in the forward zone, as `answer()` would find it; `ns` is not a
   * host (see NAME_SERVER_LABEL) and must be asked through `answer()`.
   */
  host(label: string): NameEntry | undefined {
    return this.names.lookup(label);
  }

  /**
   * The forward zone's SOA record in wire form (uncompressed), as the authority section of its negative answers
   * carries it; re-encoded only when the serial changed.
   */
  domainSoaRecord(): Buffer {
    const serial = this.names.serial;
    if (this.domainSoaWire === null || this.domainSoaSerial !== serial) {
      const record = this.soa(this.domain);
      const scratch = Buffer.alloc(1024);
      const length = encodeRecordInto(record, scratch, 0);
      this.domainSoaWire = Buffer.from(scratch.subarray(0, length));
      this.domainSoaSerial = serial;
    }
    return this.domainSoaWire;
  }

  /** The apex of our zone containing `qname`, or null when the name is not ours to answer. */
  zoneOf(qname: string): string | null {
    const name = normalize(qname);
    if (isAtOrBelow(name, this.domain)) return this.domain;
    if (isAtOrBelow(name, this.reverseZone) && this.reverseNameIsOurs(name)) return this.reverseZone;
    return null;
  }

  /** Whether `qname` is in the reverse zone and ours to answer (a name of a neighbouring network is not). */
  isReverseName(qname: string): boolean {
    return this.zoneOf(qname) === this.reverseZone;
  }

  /**
   * A name at or below the reverse zone's apex is ours when it is the apex, or when the network it names (each label
   * below the apex one more octet) overlaps the subnet and, if it goes on with non-octet labels, lies wholly inside it.
   */
  private reverseNameIsOurs(name: string): boolean {
    if (name === this.reverseZone) return true;
    const below = name.slice(0, name.length - this.reverseZone.length - 1).split('.').reverse();
    let octets = this.reverseZoneLabels - 2; // the apex's own octets (the labels before in-addr.arpa)
    let network = networkOf(this.config.serverIp, octets * 8);
    for (const label of below) {
      if (octets === 4 || !/^\d{1,3}$/.test(label) || Number(label) > 255) {
        return octets * 8 >= this.config.prefixLength; // junk below a node wholly inside the subnet: ours, NXDOMAIN
      }
      network = (network | (Number(label) << (8 * (3 - octets)))) >>> 0;
      octets++;
      const common = Math.min(octets * 8, this.config.prefixLength);
      if (networkOf(network, common) !== networkOf(this.config.serverIp, common)) return false;
    }
    return true;
  }

  answer(question: Question): LocalAnswer | null {
    const asked = question.name.replace(/\.$/, '');
    const name = normalize(asked);
    const apex = this.zoneOf(name);
    if (apex === null) return null;
    if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') {
      return this.negative(apex, Rcode.Refused);
    }
    const type = question.type;
    if (name === apex) return this.apexAnswer(asked, apex, type);
    return apex === this.domain ? this.forwardAnswer(asked, name, apex, type) : this.reverseAnswer(asked, name, apex, type);
  }

  private apexAnswer(asked: string, apex: string, type: string): LocalAnswer {
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    if (type === 'SOA' || type === 'ANY') answers.push(this.soa(apex, asked));
    if (type === 'NS' || type === 'ANY') {
      answers.push({ type: 'NS', name: asked, ttl: this.config.soaTtl, class: 'IN', data: this.nameServer() });
      additionals.push(this.nameServerAddress());
    }
    if (answers.length === 0) return this.negative(apex, Rcode.NoError);
    return { rcode: Rcode.NoError, answers, authorities: [], additionals };
  }

  private forwardAnswer(asked: string, name: string, apex: string, type: string): LocalAnswer {
    const label = name.slice(0, name.length - apex.length - 1);
    if (label.includes('.')) return this.negative(apex, Rcode.NxDomain);
    let ip: IPv4;
    let ttl: number;
    if (label === NAME_SERVER_LABEL) {
      ip = this.config.serverIp;
      ttl = this.config.soaTtl;
    } else {
      const entry = this.names.lookup(label);
      if (!entry) return this.negative(apex, Rcode.NxDomain);
      ip = entry.ip;
      ttl = this.ttlFor(entry.expiresAt);
    }
    if (type !== 'A' && type !== 'ANY') return this.negative(apex, Rcode.NoError);
    return { rcode: Rcode.NoError, answers: [{ type: 'A', name: asked, ttl, class: 'IN', data: formatIPv4(ip) }], authorities: [], additionals: [] };
  }

  private reverseAnswer(asked: string, name: string, apex: string, type: string): LocalAnswer {
    const ip = ptrNameToIp(name);
    if (ip === null) {
      // A network between the apex and the addresses (e.g. 1.0.10.in-addr.arpa in 10.0.0.0/23): an empty
      // non-terminal above the PTRs, so NODATA, not NXDOMAIN (RFC 8020: NXDOMAIN would deny the names below).
      const depth = name.split('.').length - 2;
      return this.negative(apex, depth < 4 && /^(\d{1,3}\.)+in-addr\.arpa$/.test(name) ? Rcode.NoError : Rcode.NxDomain);
    }
    if (!inSubnet(ip, this.config.serverIp, this.config.prefixLength)) return this.negative(apex, Rcode.NxDomain);
    let target: string;
    let ttl: number;
    if (ip === this.config.serverIp) {
      target = this.nameServer();
      ttl = this.config.soaTtl;
    } else {
      const entry = this.names.reverse(ip);
      if (!entry) return this.negative(apex, Rcode.NxDomain);
      target = `${entry.name}.${this.domain}`;
      ttl = this.ttlFor(entry.expiresAt);
    }
    if (type !== 'PTR' && type !== 'ANY') return this.negative(apex, Rcode.NoError);
    return { rcode: Rcode.NoError, answers: [{ type: 'PTR', name: asked, ttl, class: 'IN', data: target }], authorities: [], additionals: [] };
  }

  /** Short, and never beyond the lease's end (a name must not outlive its lease in caches). */
  ttlFor(expiresAt: number | null): number {
    if (expiresAt === null) return this.config.recordTtl;
    const remaining = Math.floor((expiresAt - this.now()) / 1000);
    return Math.max(0, Math.min(this.config.recordTtl, remaining));
  }

  private nameServer(): string {
    return `${NAME_SERVER_LABEL}.${this.domain}`;
  }

  private nameServerAddress(): Answer {
    return { type: 'A', name: this.nameServer(), ttl: this.config.soaTtl, class: 'IN', data: formatIPv4(this.config.serverIp) };
  }

  private soa(apex: string, ownerAsAsked?: string): Answer {
    return {
      type: 'SOA',
      name: ownerAsAsked ?? apex,
      ttl: this.config.soaTtl,
      class: 'IN',
      data: {
        mname: this.nameServer(),
        rname: `hostmaster.${this.domain}`,
        serial: this.names.serial >>> 0,
        refresh: SOA_REFRESH_SECONDS,
        retry: SOA_RETRY_SECONDS,
        expire: SOA_EXPIRE_SECONDS,
        minimum: this.config.soaTtl,
      },
    };
  }

  private negative(apex: string, rcode: number): LocalAnswer {
    return { rcode, answers: [], authorities: [this.soa(apex)], additionals: [] };
  }
}
