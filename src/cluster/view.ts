/**
 * The cluster as this daemon sees it: every host record and every name record under the prefix, kept in memory from
 * etcd's watch (src/cluster/etcd.ts feeds `apply`/`replaceAll`). It is what DNS reads for remote names (it has the
 * shape of src/dns/remote-zone.ts's `RemoteNames`; DNS never imports this file) and what the routes part reads for
 * peers. Every value is parsed and validated (records.ts); what fails is dropped and counted, and the number of hosts
 * and names is bounded (CLUSTER_MAX_HOSTS, CLUSTER_MAX_NAMES), so a hostile writer of etcd cannot grow our memory.
 */
import { type IPv4, inSubnet } from '../net/address.ts';
import { inPrefix, parseIPv6 } from '../net/address6.ts';
import { classifyKey, type HostRecord, type NameRecord, parseHostRecord, parseNameRecord } from './records.ts';

/** Hosts held in memory (the contract): far above any LXC cluster, low enough to bound a flood of host keys. */
export const CLUSTER_MAX_HOSTS = 1024;
/** Names held in memory (the contract, 2^18): 100 hosts × 2 600 containers; each costs a few hundred bytes. */
export const CLUSTER_MAX_NAMES = 262_144;
/**
 * TTL of remote answers while the view is current. A remote name can vanish at any moment (its host dies; its key
 * goes with the etcd lease after --cluster-ttl), so it is cached no longer than the local names' TTL and the daemon
 * passes the cluster TTL when that is shorter.
 */
const DEFAULT_REMOTE_TTL = 5;
/** TTL of remote answers while etcd is unreachable: the last view is served, but no resolver should keep it. */
export const STALE_REMOTE_TTL = 1;

/** A route to another host's bridge subnet (the contract with src/host/cluster-routes.ts). */
export interface PeerRoute {
  readonly host: string;
  readonly network: IPv4;
  readonly prefixLength: number;
  readonly via: IPv4;
}

interface HostEntry {
  record: HostRecord;
  /** When this view last knew the record current (a put, a full read, or contact with etcd since). */
  seenAt: number;
}

type ViewChange = 'host' | 'name' | 'none';

export class ClusterView {
  /** Dropped records by reason (bad values, bounds hit): the metrics and the operator view read it. */
  readonly dropped = new Map<string, number>();
  private readonly hosts = new Map<string, HostEntry>();
  private readonly names = new Map<string, NameRecord>();
  private readonly byIp4 = new Map<IPv4, string>();
  private readonly byIp6 = new Map<string, string>();
  private readonly peerListeners: ((peers: readonly PeerRoute[]) => void)[] = [];
  private stale = false;
  private lastContact: number;
  private changes = 0;

  constructor(
    /** This host's name: its own records are not remote. */
    readonly self: string,
    private readonly o: { maxHosts?: number; maxNames?: number; ttl?: number; now?: () => number } = {},
  ) {
    this.lastContact = this.now();
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  get version(): number {
    return this.changes;
  }

  /** A key was put (value) or deleted (null). Returns what kind of record changed. */
  apply(key: string, value: Buffer | null): ViewChange {
    const which = classifyKey(key);
    if (which === null) {
      this.count('bad-key');
      return 'none';
    }
    const change = which.kind === 'host' ? this.applyHost(which.label, value) : this.applyName(which.label, value);
    if (change !== 'none') this.changes++;
    if (change === 'host') this.emitPeers();
    return change;
  }

  /** Replaces everything with a full read of the prefix (at start and after a reconnect). */
  replaceAll(entries: Iterable<{ key: string; value: Buffer }>): void {
    const before = this.peerSignature();
    this.hosts.clear();
    this.names.clear();
    this.byIp4.clear();
    this.byIp6.clear();
    for (const e of entries) {
      const which = classifyKey(e.key);
      if (which === null) this.count('bad-key');
      else if (which.kind === 'host') this.applyHost(which.label, e.value);
      else this.applyName(which.label, e.value);
    }
    this.changes++;
    this.contact();
    if (this.peerSignature() !== before) this.emitPeers();
  }

  /** etcd answered (a watch event, a read): the view is current as of now. */
  contact(): void {
    this.lastContact = this.now();
    for (const entry of this.hosts.values()) entry.seenAt = this.lastContact;
  }

  /** Marks the view as possibly out of date (etcd unreachable) or current again. */
  setStale(stale: boolean): void {
    this.stale = stale;
    if (!stale) this.contact();
  }

  get isStale(): boolean {
    return this.stale;
  }

  private count(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }

  private applyHost(label: string, value: Buffer | null): ViewChange {
    if (value === null) return this.hosts.delete(label) ? 'host' : 'none';
    const parsed = parseHostRecord(label, value);
    if (!parsed.ok) {
      this.count(`host-${parsed.error}`);
      // A host record that no longer parses is no longer a peer to route to.
      return this.hosts.delete(label) ? 'host' : 'none';
    }
    if (!this.hosts.has(label) && this.hosts.size >= (this.o.maxHosts ?? CLUSTER_MAX_HOSTS)) {
      this.count('hosts-full');
      return 'none';
    }
    this.hosts.set(label, { record: parsed.value, seenAt: this.now() });
    return 'host';
  }

  private applyName(label: string, value: Buffer | null): ViewChange {
    const previous = this.names.get(label);
    if (value === null) {
      if (previous === undefined) return 'none';
      this.removeName(previous);
      return 'name';
    }
    const parsed = parseNameRecord(label, value);
    if (!parsed.ok) {
      this.count(`name-${parsed.error}`);
      if (previous !== undefined) this.removeName(previous);
      return previous === undefined ? 'none' : 'name';
    }
    if (previous === undefined && this.names.size >= (this.o.maxNames ?? CLUSTER_MAX_NAMES)) {
      this.count('names-full');
      return 'none';
    }
    if (previous !== undefined) this.removeName(previous);
    this.names.set(label, parsed.value);
    for (const ip of parsed.value.a) this.byIp4.set(ip, label);
    for (const ip of parsed.value.aaaa) this.byIp6.set(ip, label);
    return 'name';
  }

  private removeName(record: NameRecord): void {
    this.names.delete(record.name);
    for (const ip of record.a) if (this.byIp4.get(ip) === record.name) this.byIp4.delete(ip);
    for (const ip of record.aaaa) if (this.byIp6.get(ip) === record.name) this.byIp6.delete(ip);
  }

  // RemoteNames (src/dns/remote-zone.ts): names of other hosts only; ours are the local zones'.

  lookup(label: string): NameRecord | undefined {
    const record = this.names.get(label);
    return record === undefined || record.host === this.self || !this.insideHolder(record) ? undefined : record;
  }

  /**
   * A remote name answers only with IPv4 addresses of its holder's own bridge subnet: a record pointing anywhere else
   * (a bug, or a writer of etcd naming another network's address) is not served, and neither is a name whose host
   * record is gone. (IPv6 is not held to the prefix: learned addresses may be any the container uses.)
   */
  private insideHolder(record: NameRecord): boolean {
    const holder = this.hosts.get(record.host)?.record;
    if (holder === undefined) return false;
    for (const ip of record.a) if (!inSubnet(ip, holder.network, holder.prefixLength)) return false;
    return true;
  }

  reverse4(ip: IPv4): string | null | undefined {
    for (const { record } of this.hosts.values()) {
      if (record.host === this.self || !inSubnet(ip, record.network, record.prefixLength)) continue;
      const name = this.byIp4.get(ip);
      const holder = name === undefined ? undefined : this.names.get(name);
      return holder !== undefined && holder.host === record.host ? holder.name : null;
    }
    return undefined;
  }

  reverse6(address: string): string | null | undefined {
    const bytes = parseIPv6(address);
    if (bytes === null) return undefined;
    for (const { record } of this.hosts.values()) {
      const p = record.prefix6;
      const network = p === null ? null : parseIPv6(p.network);
      if (record.host === this.self || p === null || network === null || !inPrefix(bytes, network, p.prefixLength)) continue;
      const name = this.byIp6.get(address);
      const holder = name === undefined ? undefined : this.names.get(name);
      return holder !== undefined && holder.host === record.host ? holder.name : null;
    }
    return undefined;
  }

  ttl(): number {
    return this.stale ? STALE_REMOTE_TTL : (this.o.ttl ?? DEFAULT_REMOTE_TTL);
  }

  // What the publisher, the operator view and the routes read.

  /** The record of `name` whoever holds it (ours included). */
  nameRecord(name: string): NameRecord | undefined {
    return this.names.get(name);
  }

  host(label: string): HostRecord | undefined {
    return this.hosts.get(label)?.record;
  }

  hostList(): { record: HostRecord; lastSeen: number }[] {
    const now = this.now();
    return [...this.hosts.values()].map((e) => ({ record: e.record, lastSeen: this.stale ? e.seenAt : Math.max(e.seenAt, Math.min(now, this.lastContact)) }));
  }

  nameList(): NameRecord[] {
    return [...this.names.values()];
  }

  get nameCount(): number {
    return this.names.size;
  }

  get hostCount(): number {
    return this.hosts.size;
  }

  /** Names per host (metrics). */
  namesPerHost(): Map<string, number> {
    const out = new Map<string, number>();
    for (const n of this.names.values()) out.set(n.host, (out.get(n.host) ?? 0) + 1);
    return out;
  }

  /** Every other host's subnet and the address to route it to. */
  peers(): PeerRoute[] {
    const out: PeerRoute[] = [];
    for (const { record } of this.hosts.values()) {
      if (record.host !== this.self) out.push({ host: record.host, network: record.network, prefixLength: record.prefixLength, via: record.address });
    }
    return out.sort((x, y) => (x.host < y.host ? -1 : x.host > y.host ? 1 : 0));
  }

  /** Called with the peers whenever a host record comes, goes or changes. */
  onPeersChanged(listener: (peers: readonly PeerRoute[]) => void): void {
    this.peerListeners.push(listener);
  }

  private peerSignature(): string {
    return this.peers()
      .map((p) => `${p.host} ${p.network}/${p.prefixLength} ${p.via}`)
      .join(',');
  }

  private emitPeers(): void {
    const peers = this.peers();
    for (const listener of this.peerListeners) listener(peers);
  }
}
