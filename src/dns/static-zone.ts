/**
 * The static records of `--dns-record` (A, AAAA, CNAME, TXT, SRV) as one zone. It owns exactly the names it was given
 * (and, inside `--domain`, the empty non-terminals above them, e.g. `_tcp.lxc` above `_http._tcp.lxc`, which get
 * NODATA per RFC 8020); every other name is "not mine". It comes after the lease zone in LocalZones, which lets a
 * later zone fill a name the earlier one denies (NXDOMAIN): so a container's name always wins, and a static name
 * answers only while no container holds it. Like dnsmasq's host-record/txt-record/srv-host/cname, names outside
 * `--domain` are answered locally (authoritatively) for every client, never forwarded.
 */
import type { StaticRecord } from '../config/dns-records.ts';
import type { Answer } from './message.ts';
import { type ZoneApex, type ZoneQuestion, zoneApex } from './question.ts';
import { Rcode, Type, typeNumber } from './vocabulary.ts';

/** What the static zone returns: a LocalAnswer (zone.ts) in shape. */
interface StaticAnswer {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

export class StaticZone {
  /** The zone has no single apex: it owns the names it holds, wherever they are. */
  readonly apex: ZoneApex = zoneApex('', null);
  readonly trustedOnly = false;
  private readonly byName = new Map<string, { type: number; record: Answer }[]>();
  private readonly emptyNonTerminals = new Set<string>();

  /** `domainSoa` is `--domain`'s SOA, put in the authority of negative answers about names inside the domain. */
  constructor(
    records: readonly StaticRecord[],
    private readonly domain: string,
    ttl: number,
    private readonly domainSoa: () => Answer,
  ) {
    for (const r of records) {
      const list = this.byName.get(r.name) ?? [];
      list.push({ type: typeNumber(r.type) as number, record: { ...r, ttl, class: 'IN' } as Answer });
      this.byName.set(r.name, list);
      if (!r.name.endsWith(`.${domain}`)) continue;
      const labels = r.name.slice(0, -domain.length - 1).split('.');
      for (let i = 1; i < labels.length; i++) this.emptyNonTerminals.add(`${labels.slice(i).join('.')}.${domain}`);
    }
    for (const name of this.byName.keys()) this.emptyNonTerminals.delete(name);
  }

  answer(q: ZoneQuestion): StaticAnswer | null {
    const name = q.lowerName();
    const records = this.byName.get(name);
    if (records === undefined) return this.emptyNonTerminals.has(name) ? this.negative(name, Rcode.NoError) : null;
    if (q.otherClass) return { rcode: Rcode.Refused, answers: [], authorities: [], additionals: [] };
    const asked = q.askedName();
    const cname = records[0]?.type === Type.CNAME;
    const matching = records.filter((r) => cname || q.type === Type.ANY || r.type === q.type);
    if (matching.length === 0) return this.negative(name, Rcode.NoError);
    return { rcode: Rcode.NoError, answers: matching.map((r) => ({ ...r.record, name: asked })), authorities: [], additionals: [] };
  }

  /** NODATA (or another rcode) with the domain's SOA inside `--domain`; outside it we hold no SOA to give. */
  private negative(name: string, rcode: number): StaticAnswer {
    return { rcode, answers: [], authorities: name.endsWith(`.${this.domain}`) ? [this.domainSoa()] : [], additionals: [] };
  }
}
