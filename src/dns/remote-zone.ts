/**
 * Names held by other hosts of the cluster (issue 16): `NAME.<domain>` A/AAAA of a container on another host, and the
 * PTRs of every other host's subnet (in-addr.arpa) and IPv6 prefix (ip6.arpa), answered authoritatively from memory.
 * DNS knows only the `RemoteNames` interface below; the daemon hands in the cluster's view (src/cluster/view.ts has
 * this shape, dns never imports it), which a watcher keeps current: no etcd round trip is on the query path.
 *
 * These zones come after the local ones in LocalZones' order, so a local name always wins: the lease zone's NXDOMAIN
 * lets them answer a name no local container holds, and a name they do not hold they pass ("not mine"), leaving the
 * lease zone's NXDOMAIN standing. An A question about a name with one IPv4 address is answered as a `WireAnswer`, the
 * shape the UDP fast path writes without allocating, so a remote name costs what a local one does.
 */
import { formatIPv4, type IPv4 } from '../net/address.ts';
import { formatIPv6 } from '../net/address6.ts';
import { addressFromPtrName } from './ip6-reverse.ts';
import type { Answer } from './message.ts';
import { type ZoneApex, type ZoneQuestion, zoneApex } from './question.ts';
import { Rcode, Type } from './vocabulary.ts';
import { wireName } from './wire-name.ts';
import { type LocalAnswer, ptrNameToIp, WireAnswer, type Zone, type ZoneAnswer } from './zone.ts';

/** One name another host holds: its addresses (IPv4 as numbers, IPv6 as RFC 5952 text). */
export interface RemoteName {
  readonly a: readonly IPv4[];
  readonly aaaa: readonly string[];
}

/** What the remote zones read (the cluster's in-memory view). */
export interface RemoteNames {
  /** The name (a lower-case label) when another host holds it. */
  lookup(label: string): RemoteName | undefined;
  /** `ip` inside another host's subnet: the name holding it, or null (nobody: NXDOMAIN); undefined when not inside one. */
  reverse4(ip: IPv4): string | null | undefined;
  /** The same for an IPv6 address (RFC 5952 text) and the other hosts' prefixes. */
  reverse6(address: string): string | null | undefined;
  /** The TTL of every remote answer now (short, and shorter while the view may be out of date). */
  ttl(): number;
}

/** The domain's SOA (owner: the domain) as a record and in wire form, from the local zones. */
type DomainSoa = () => { record: Answer; wire: Buffer };

/** `NAME.<domain>` of names other hosts hold. */
export class RemoteNameZone implements Zone {
  readonly apex: ZoneApex;
  readonly trustedOnly = false;
  private readonly wire = new WireAnswer();

  constructor(
    private readonly names: RemoteNames,
    domain: string,
    private readonly domainSoa: DomainSoa,
  ) {
    this.apex = zoneApex(domain, wireName(domain));
  }

  answer(q: ZoneQuestion): ZoneAnswer | null {
    if (q.belowApex(this.apex) !== 1 || q.otherClass) return null;
    const name = this.names.lookup(q.lowerLabelAt(0));
    if (name === undefined) return null;
    const ttl = this.names.ttl();
    if (q.type === Type.A && name.a.length === 1) return this.wire.setAddress(name.a[0] as IPv4, ttl);
    const asked = q.askedName();
    const answers: Answer[] = [];
    if (q.type === Type.A || q.type === Type.ANY) for (const ip of name.a) answers.push({ type: 'A', name: asked, ttl, class: 'IN', data: formatIPv4(ip) });
    if (q.type === Type.AAAA || q.type === Type.ANY) for (const ip of name.aaaa) answers.push({ type: 'AAAA', name: asked, ttl, class: 'IN', data: ip });
    if (answers.length === 0) return this.nodata();
    return { rcode: Rcode.NoError, answers, authorities: [], additionals: [] };
  }

  private nodata(): WireAnswer {
    return this.wire.setNegative(Rcode.NoError, this.domainSoa());
  }
}

/**
 * PTRs of the addresses inside other hosts' subnets (IPv4) or prefixes (IPv6): the name holding the address, or
 * NXDOMAIN; every other name under in-addr.arpa / ip6.arpa passes. For trusted clients only, like the local reverse
 * zone (from outside it would list every container of the cluster).
 */
export class RemoteReverseZone implements Zone {
  readonly apex: ZoneApex;
  readonly trustedOnly = true;

  constructor(
    private readonly names: RemoteNames,
    private readonly family: 4 | 6,
    private readonly domain: string,
    private readonly domainSoa: DomainSoa,
  ) {
    const apex = family === 4 ? 'in-addr.arpa' : 'ip6.arpa';
    this.apex = zoneApex(apex, wireName(apex));
  }

  answer(q: ZoneQuestion): ZoneAnswer | null {
    if (q.belowApex(this.apex) < 1) return null;
    const name = q.lowerName();
    let holder: string | null | undefined;
    if (this.family === 4) {
      const ip = ptrNameToIp(name);
      holder = ip === null ? undefined : this.names.reverse4(ip);
    } else {
      const address = addressFromPtrName(name);
      holder = address === null ? undefined : this.names.reverse6(formatIPv6(address));
    }
    if (holder === undefined) return null;
    if (q.otherClass) return negative(Rcode.Refused, []);
    // The other host's zone has no SOA of ours to give; the domain's says who answered and how long to cache.
    if (holder === null) return negative(Rcode.NxDomain, [this.domainSoa().record]);
    if (q.type !== Type.PTR && q.type !== Type.ANY) return negative(Rcode.NoError, [this.domainSoa().record]);
    const ttl = this.names.ttl();
    return {
      rcode: Rcode.NoError,
      answers: [{ type: 'PTR', name: q.askedName(), ttl, class: 'IN', data: `${holder}.${this.domain}` }],
      authorities: [],
      additionals: [],
    };
  }
}

function negative(rcode: number, authorities: Answer[]): LocalAnswer {
  return { rcode, answers: [], authorities, additionals: [] };
}
