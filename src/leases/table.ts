import type { IPv4 } from '../net/address.ts';
import { ExpiryHeap } from './expiry-heap.ts';
import type { Lease } from './lease.ts';
import type { AddressPool } from './pool.ts';
import type { LeaseStore } from './store.ts';

export interface LeaseTableOptions {
  store: LeaseStore;
  pool: AddressPool;
  now?: () => number;
}

export interface BindRequest {
  ip: IPv4;
  mac: string;
  clientId: Buffer | null;
  hostname: string | null;
  durationMs: number;
}

/** A record whose address the pool counts as taken: bound (even if its time is up but not yet expired) or declined. */
function holdsAddress(lease: Lease | undefined): boolean {
  return lease !== undefined && (lease.state === 'bound' || lease.state === 'declined');
}

/** Which of two records of one MAC is its most recent: later change, then a bound one, then the higher address. */
function isNewer(a: Lease, b: Lease): boolean {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt;
  if ((a.state === 'bound') !== (b.state === 'bound')) return a.state === 'bound';
  return a.ip > b.ip;
}

/**
 * The in-memory lease index: one record per address (any state), the most recent record per MAC, the bound
 * records, and a min-heap of expiry times. Every change is staged in the store; commit() makes it durable.
 *
 * Invariant: every record reachable through byMac or active() is the current record for its address.
 */
export class LeaseTable {
  private readonly store: LeaseStore;
  private readonly pool: AddressPool;
  private readonly now: () => number;
  private readonly recordsByIp = new Map<IPv4, Lease>();
  private readonly latestByMac = new Map<string, Lease>();
  /** Addresses whose current record carries this MAC; lets byMac fall back when its latest record is overwritten. */
  private readonly ipsByMac = new Map<string, Set<IPv4>>();
  private readonly boundByIp = new Map<IPv4, Lease>();
  // Lazy deletion: an entry is live only while its lease is still the current record for its address.
  private readonly expiries = new ExpiryHeap<Lease>();
  private loaded = false;

  constructor(opts: LeaseTableOptions) {
    this.store = opts.store;
    this.pool = opts.pool;
    this.now = opts.now ?? Date.now;
  }

  /** Number of bound records; includes ones whose time is up until expireDue() has run. */
  get activeCount(): number {
    return this.boundByIp.size;
  }

  load(): void {
    if (this.loaded || this.recordsByIp.size > 0) throw new Error('LeaseTable.load() must run once, on an empty table');
    this.loaded = true;
    const now = this.now();
    const freed: Lease[] = [];
    for (const row of this.store.loadAll()) {
      let lease = row;
      if (holdsAddress(row) && now >= row.expiresAt) {
        // The state changed when the time ran out, not now: keeps "freed longest ago" and byMac recency honest.
        lease = { ...row, state: 'expired', updatedAt: row.expiresAt };
        this.store.stage(lease);
      }
      this.recordsByIp.set(lease.ip, lease);
      this.addMacIndex(lease);
      const latest = lease.mac === '' ? undefined : this.latestByMac.get(lease.mac);
      if (lease.mac !== '' && (latest === undefined || isNewer(lease, latest))) this.latestByMac.set(lease.mac, lease);
      if (holdsAddress(lease)) {
        this.pool.take(lease.ip);
        this.expiries.push(lease.expiresAt, lease);
        if (lease.state === 'bound') this.boundByIp.set(lease.ip, lease);
      } else {
        freed.push(lease);
      }
    }
    // Freed longest ago first, so recently freed addresses are the last to be handed to someone new.
    freed.sort((a, b) => a.updatedAt - b.updatedAt || a.ip - b.ip);
    for (const lease of freed) this.pool.markPreviouslyUsed(lease.ip);
  }

  byMac(mac: string): Lease | undefined {
    return this.latestByMac.get(mac);
  }

  byIp(ip: IPv4): Lease | undefined {
    return this.recordsByIp.get(ip);
  }

  isActive(lease: Lease): boolean {
    return lease.state === 'bound' && this.now() < lease.expiresAt;
  }

  /**
   * Binds ip to req.mac. The address is taken from the pool if it is still free there; if the caller already
   * took it (e.g. with allocate() for an offer) or this MAC already holds it, that is accepted. Addresses outside the pool range or
   * excluded from it (reservations) are bound as records only.
   */
  bind(req: BindRequest): Lease {
    if (!Number.isFinite(req.durationMs) || req.durationMs <= 0) throw new RangeError('lease duration must be > 0');
    const now = this.now();
    const existing = this.recordsByIp.get(req.ip);
    if (existing !== undefined && now < existing.expiresAt) {
      if (existing.state === 'bound' && existing.mac !== req.mac) {
        throw new Error(`address ${req.ip} is bound to ${existing.mac}, cannot bind it to ${req.mac}`);
      }
      if (existing.state === 'declined') throw new Error(`address ${req.ip} is quarantined after a decline`);
    }
    this.pool.take(req.ip); // no-op when a record or the caller already holds it

    const previous = this.latestByMac.get(req.mac);
    if (previous !== undefined && previous.ip !== req.ip && previous.state === 'bound') {
      this.put({ ...previous, state: 'released', expiresAt: now, updatedAt: now });
      this.pool.release(previous.ip);
    }

    const lease: Lease = {
      ip: req.ip,
      mac: req.mac,
      clientId: req.clientId,
      hostname: req.hostname,
      state: 'bound',
      expiresAt: now + req.durationMs,
      updatedAt: now,
    };
    this.put(lease);
    this.latestByMac.set(lease.mac, lease);
    return lease;
  }

  /** Ends a bound lease early; undefined when the address has no bound record. */
  release(ip: IPv4): Lease | undefined {
    const current = this.recordsByIp.get(ip);
    if (current === undefined || current.state !== 'bound') return undefined;
    const now = this.now();
    const released: Lease = { ...current, state: 'released', expiresAt: now, updatedAt: now };
    this.put(released);
    this.pool.release(ip);
    return released;
  }

  /** Quarantines an address reported in use by someone else; it stays taken until the quarantine ends. */
  decline(ip: IPv4, quarantineMs: number): Lease {
    if (!Number.isFinite(quarantineMs) || quarantineMs < 0) throw new RangeError('quarantine must be >= 0 ms');
    const now = this.now();
    this.pool.take(ip);
    const declined: Lease = {
      ip,
      mac: '',
      clientId: null,
      hostname: null,
      state: 'declined',
      expiresAt: now + quarantineMs,
      updatedAt: now,
    };
    this.put(declined);
    return declined;
  }

  /** Expires every bound lease and ends every quarantine whose time is up, earliest first. */
  expireDue(): Lease[] {
    const now = this.now();
    const expired: Lease[] = [];
    for (let due = this.liveEarliest(); due !== undefined && due.at <= now; due = this.liveEarliest()) {
      this.expiries.pop();
      const lease: Lease = { ...due.value, state: 'expired', updatedAt: now };
      this.put(lease);
      this.pool.release(lease.ip);
      expired.push(lease);
    }
    return expired;
  }

  nextExpiryAt(): number | undefined {
    return this.liveEarliest()?.at;
  }

  *active(): IterableIterator<Lease> {
    for (const lease of this.boundByIp.values()) if (this.isActive(lease)) yield lease;
  }

  commit(): number {
    return this.store.commit();
  }

  /** Writes staged changes; `done` runs once they are on disk (see LeaseStore.commitThen). */
  commitThen(done: (error: Error | null) => void): number {
    return this.store.commitThen(done);
  }


  /** Drops stale heap entries from the top and returns the earliest live one without removing it. */
  private liveEarliest(): { at: number; value: Lease } | undefined {
    for (let top = this.expiries.peek(); top !== undefined; top = this.expiries.peek()) {
      if (this.recordsByIp.get(top.value.ip) === top.value) return top;
      this.expiries.pop();
    }
    return undefined;
  }

  /** Makes lease the current record for its address, keeping every index consistent, and stages it. */
  private put(lease: Lease): void {
    const old = this.recordsByIp.get(lease.ip);
    this.recordsByIp.set(lease.ip, lease);
    if (old !== undefined && old.mac !== lease.mac) this.removeMacIndex(old);
    this.addMacIndex(lease);
    if (old !== undefined && old.mac !== '' && this.latestByMac.get(old.mac) === old) {
      if (old.mac === lease.mac) this.latestByMac.set(lease.mac, lease);
      else this.recomputeLatest(old.mac);
    }
    if (lease.state === 'bound') this.boundByIp.set(lease.ip, lease);
    else this.boundByIp.delete(lease.ip);
    if (holdsAddress(lease)) this.expiries.push(lease.expiresAt, lease);
    this.store.stage(lease);
  }

  private addMacIndex(lease: Lease): void {
    if (lease.mac === '') return;
    const ips = this.ipsByMac.get(lease.mac);
    if (ips === undefined) this.ipsByMac.set(lease.mac, new Set([lease.ip]));
    else ips.add(lease.ip);
  }

  private removeMacIndex(lease: Lease): void {
    const ips = this.ipsByMac.get(lease.mac);
    if (ips === undefined) return;
    ips.delete(lease.ip);
    if (ips.size === 0) this.ipsByMac.delete(lease.mac);
  }

  /** Only runs when a MAC's latest record was taken over by another MAC; a MAC has few records. */
  private recomputeLatest(mac: string): void {
    let latest: Lease | undefined;
    for (const ip of this.ipsByMac.get(mac) ?? []) {
      const lease = this.recordsByIp.get(ip);
      if (lease !== undefined && (latest === undefined || isNewer(lease, latest))) latest = lease;
    }
    if (latest === undefined) this.latestByMac.delete(mac);
    else this.latestByMac.set(mac, latest);
  }
}
