/**
 * LeaseTable: the in-memory lease index the DHCP server asks (by address, by MAC, what expires next) and changes
 * (bind, release, decline, expire). It ties the address pool and a LeaseStore (store-contract.ts) together: it loads
 * the store's records at start, keeps the pool consistent with them, and stages every change in the store; commit()
 * and commitThen() make the changes durable. It knows no packets and no storage.
 */
import type { IPv4 } from '../net/address.ts';
import type { Lease } from './lease.ts';
import { macKey, NO_MAC } from './mac-key.ts';
import type { AddressPool } from './pool.ts';
import { BOUND, DECLINED, EXPIRED, LeaseRecords, RELEASED } from './records.ts';
import { SlotHeap } from './slot-heap.ts';
import { numberKeys, SlotIndex } from './slot-index.ts';
import type { CommitDone, LeaseStore, StoredLease } from './store-contract.ts';

interface LeaseTableOptions {
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

/** Headroom for bindings of new addresses after load, so the arrays need not grow at the first new client. */
const SPARE_SLOTS = 1024;

/** A state whose address the pool counts as taken: bound (even if its time is up but not yet expired) or declined. */
function holdsAddress(state: number): boolean {
  return state === BOUND || state === DECLINED;
}

function isIPv4(ip: number): boolean {
  return ip >>> 0 === ip;
}

/**
 * The in-memory lease index: one record per address (any state), the most recent record per MAC, the number of
 * bound records, and a min-heap of expiry times. Every change is staged in the store; commit() makes it durable.
 *
 * Records live in columns (LeaseRecords), found through two slot indexes (address → slot, MAC → slot of its most
 * recent record) that hold only slot numbers and read the keys back from the columns. The Lease objects this class
 * returns are snapshots made on each call: two calls give equal objects, not the same one, and a later change never
 * alters one already returned.
 *
 * Invariant: the slot byMac points at is one of the slots carrying that MAC, the most recent of them; the expiry heap
 * holds exactly the slots whose record holds its address (bound or declined).
 */
export class LeaseTable {
  private readonly store: LeaseStore;
  private readonly pool: AddressPool;
  private readonly now: () => number;
  private records = new LeaseRecords(0);
  private slotByIp = this.ipIndex(0);
  private latestSlotByMac = this.macIndex(0);
  private expiries = this.expiryHeap(SPARE_SLOTS);
  private boundCount = 0;
  private loaded = false;

  constructor(opts: LeaseTableOptions) {
    this.store = opts.store;
    this.pool = opts.pool;
    this.now = opts.now ?? Date.now;
  }

  /** Number of bound records; includes ones whose time is up until expireDue() has run. */
  get activeCount(): number {
    return this.boundCount;
  }

  /**
   * Reads every stored record in one pass straight into the columns (sized once from the store's count), then orders
   * the expiry heap in O(n) and hands the pool the addresses freed, longest ago first.
   */
  load(): void {
    if (this.loaded || this.records.count > 0) throw new Error('LeaseTable.load() must run once, on an empty table');
    this.loaded = true;
    const now = this.now();
    const freed: number[] = [];
    // Lapsed records are rewritten by the store in one step, not staged one by one (all of them after a long downtime).
    this.store.expireLapsed(now);
    this.store.load(
      (stored) => this.loadRecord(stored, now, freed),
      (count) => this.sizeFor(count),
    );
    this.expiries.heapify();
    // Freed longest ago first, so recently freed addresses are the last to be handed to someone new.
    const updated = this.records.updatedAt;
    const ips = this.records.ip;
    freed.sort((a, b) => (updated[a] as number) - (updated[b] as number) || (ips[a] as number) - (ips[b] as number));
    for (const slot of freed) this.pool.markPreviouslyUsed(ips[slot] as number);
  }

  private ipIndex(expected: number): SlotIndex<IPv4> {
    return new SlotIndex(
      numberKeys((slot) => this.records.ip[slot] as number),
      expected,
    );
  }

  private macIndex(expected: number): SlotIndex<number> {
    return new SlotIndex(
      numberKeys((slot) => this.records.mac[slot] as number),
      expected,
    );
  }

  private expiryHeap(capacity: number): SlotHeap {
    return new SlotHeap((slot) => this.records.expiresAt[slot] as number, capacity);
  }

  private sizeFor(stored: number): void {
    this.records = new LeaseRecords(stored + SPARE_SLOTS);
    this.slotByIp = this.ipIndex(stored + SPARE_SLOTS);
    this.latestSlotByMac = this.macIndex(stored + SPARE_SLOTS);
    this.expiries = this.expiryHeap(stored + SPARE_SLOTS);
  }

  /** One stored record into a new slot; `freed` collects the slots whose address is free. */
  private loadRecord(stored: Readonly<StoredLease>, now: number, freed: number[]): void {
    const records = this.records;
    const { ip, macKey: key, expiresAt } = stored;
    let state = stored.stateCode;
    let updatedAt = stored.updatedAt;
    if (holdsAddress(state) && now >= expiresAt) {
      // expireLapsed() rewrote these already; a store that could not is read the same way. The state changed when the
      // time ran out, not now: keeps "freed longest ago" and byMac recency honest.
      state = EXPIRED;
      updatedAt = expiresAt;
    }
    const slot = records.add(ip);
    this.slotByIp.set(ip, slot);
    records.state[slot] = state;
    records.expiresAt[slot] = expiresAt;
    records.updatedAt[slot] = updatedAt;
    try {
      records.clientId.setHex(slot, stored.clientIdHex);
      records.hostname.setText(slot, stored.hostname);
    } catch (error) {
      throw new Error(`lease row ${ip}: ${(error as Error).message}`);
    }
    if (key !== NO_MAC) {
      records.mac[slot] = key;
      // One probe of the index for a MAC seen for the first time, the usual case.
      const latest = this.latestSlotByMac.setIfAbsent(key, slot);
      this.linkMac(slot, key, latest);
      if (latest !== -1 && this.isNewer(slot, latest)) this.latestSlotByMac.set(key, slot);
    }
    if (holdsAddress(state)) {
      this.pool.take(ip);
      this.expiries.append(slot);
      if (state === BOUND) this.boundCount++;
    } else {
      freed.push(slot);
    }
  }

  byMac(mac: string): Lease | undefined {
    const slot = this.latestSlotByMac.get(macKey(mac));
    return slot === -1 ? undefined : this.records.lease(slot);
  }

  byIp(ip: IPv4): Lease | undefined {
    const slot = this.slotOf(ip);
    return slot === -1 ? undefined : this.records.lease(slot);
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
    if (!isIPv4(req.ip)) throw new RangeError(`${req.ip} is not an IPv4 address number`);
    const key = macKey(req.mac);
    if (!(key >= 0)) throw new RangeError(`${JSON.stringify(req.mac)} is not a MAC address`);
    const now = this.now();
    const records = this.records;
    const existing = this.slotOf(req.ip);
    if (existing !== -1 && now < (records.expiresAt[existing] as number)) {
      const state = records.stateOf(existing);
      if (state === BOUND && records.mac[existing] !== key) {
        throw new Error(`address ${req.ip} is bound to ${records.lease(existing).mac}, cannot bind it to ${req.mac}`);
      }
      if (state === DECLINED) throw new Error(`address ${req.ip} is quarantined after a decline`);
    }
    this.pool.take(req.ip); // no-op when a record or the caller already holds it

    const previous = this.latestSlotByMac.get(key);
    if (previous !== -1 && records.ip[previous] !== req.ip && records.stateOf(previous) === BOUND) {
      this.change(previous, RELEASED, now, now);
      this.pool.release(records.ip[previous] as number);
    }

    const slot = this.put(req.ip, key, req.clientId, req.hostname, now + req.durationMs, now);
    this.latestSlotByMac.set(key, slot);
    return this.changed(slot);
  }

  /** Ends a bound lease early; undefined when the address has no bound record. */
  release(ip: IPv4): Lease | undefined {
    const slot = this.slotOf(ip);
    if (slot === -1 || this.records.stateOf(slot) !== BOUND) return undefined;
    const now = this.now();
    const released = this.change(slot, RELEASED, now, now);
    this.pool.release(ip);
    return released;
  }

  /** Quarantines an address reported in use by someone else; it stays taken until the quarantine ends. */
  decline(ip: IPv4, quarantineMs: number): Lease {
    if (!Number.isFinite(quarantineMs) || quarantineMs < 0) throw new RangeError('quarantine must be >= 0 ms');
    if (!isIPv4(ip)) throw new RangeError(`${ip} is not an IPv4 address number`);
    const now = this.now();
    this.pool.take(ip);
    return this.changed(this.put(ip, NO_MAC, null, null, now + quarantineMs, now, DECLINED));
  }

  /** Expires every bound lease and ends every quarantine whose time is up, earliest first. */
  expireDue(): Lease[] {
    const now = this.now();
    const expired: Lease[] = [];
    // change() takes the slot out of the heap: it no longer holds its address.
    for (let slot = this.expiries.peek(); slot !== -1 && (this.records.expiresAt[slot] as number) <= now; slot = this.expiries.peek()) {
      const records = this.records;
      expired.push(this.change(slot, EXPIRED, records.expiresAt[slot] as number, now));
      this.pool.release(records.ip[slot] as number);
    }
    return expired;
  }

  nextExpiryAt(): number | undefined {
    const slot = this.expiries.peek();
    return slot === -1 ? undefined : this.records.expiresAt[slot];
  }

  /** Bound leases whose time is not up, in the order their addresses got their first record. */
  *active(): IterableIterator<Lease> {
    for (let slot = 0; slot < this.records.count; slot++) {
      // Read the columns through this.records each time: a bind while the caller iterates may replace them.
      const records = this.records;
      if (records.stateOf(slot) === BOUND && this.now() < (records.expiresAt[slot] as number)) yield records.lease(slot);
    }
  }

  /**
   * What active() yields, as the columns the name index needs (the owner's macKey, not its text): no Lease object per
   * lease, for registering every name at start. Visits the slots from `fromSlot`, at most `maxSlots` of them; returns
   * the slot to continue from, or -1 when it reached the end.
   */
  forEachActiveHostname(
    visit: (owner: number, ip: IPv4, hostname: string, expiresAt: number) => void,
    fromSlot = 0,
    maxSlots = Number.POSITIVE_INFINITY,
  ): number {
    const now = this.now();
    const end = Math.min(this.records.count, fromSlot + maxSlots);
    for (let slot = fromSlot; slot < end; slot++) {
      const records = this.records;
      if (records.hostname.isNull(slot) || records.stateOf(slot) !== BOUND) continue;
      const expiresAt = records.expiresAt[slot] as number;
      if (now < expiresAt) visit(records.mac[slot] as number, records.ip[slot] as number, records.hostname.text(slot) as string, expiresAt);
    }
    return end < this.records.count ? end : -1;
  }

  commit(): number {
    return this.store.commit();
  }

  /** Writes staged changes; `done` runs once they are durable (the contract in store-contract.ts). */
  commitThen(done: CommitDone): number {
    return this.store.commitThen(done);
  }

  /** The slot of ip's record; -1 when it has none. */
  private slotOf(ip: IPv4): number {
    return isIPv4(ip) ? this.slotByIp.get(ip) : -1;
  }

  /** Which of two slots of one MAC is its most recent: later change, then a bound one, then the higher address. */
  private isNewer(a: number, b: number): boolean {
    const records = this.records;
    const updatedA = records.updatedAt[a] as number;
    const updatedB = records.updatedAt[b] as number;
    if (updatedA !== updatedB) return updatedA > updatedB;
    const boundA = records.stateOf(a) === BOUND;
    if (boundA !== (records.stateOf(b) === BOUND)) return boundA;
    return (records.ip[a] as number) > (records.ip[b] as number);
  }

  /** A new state (and times) for a slot's record, keeping its owner, client-id and hostname. */
  private change(slot: number, state: number, expiresAt: number, updatedAt: number): Lease {
    const records = this.records;
    this.setState(slot, state);
    records.expiresAt[slot] = expiresAt;
    records.updatedAt[slot] = updatedAt;
    return this.changed(slot);
  }

  /** Makes a new record the current one for ip, keeping every index but the expiry heap consistent (changed() next). */
  private put(ip: IPv4, key: number, clientId: Buffer | null, hostname: string | null, expiresAt: number, updatedAt: number, state = BOUND): number {
    const records = this.records;
    let slot = this.slotOf(ip);
    if (slot === -1) {
      slot = records.add(ip);
      this.slotByIp.set(ip, slot);
      records.state[slot] = EXPIRED; // not bound, so setState counts the change right
    }
    const oldKey = records.mac[slot] as number;
    if (oldKey !== key) {
      this.leaveMac(slot, oldKey);
      if (key !== NO_MAC) this.joinMac(slot, key);
    }
    this.setState(slot, state);
    records.expiresAt[slot] = expiresAt;
    records.updatedAt[slot] = updatedAt;
    records.clientId.setBytes(slot, clientId);
    records.hostname.setText(slot, hostname);
    return slot;
  }

  private setState(slot: number, state: number): void {
    const records = this.records;
    const wasBound = records.stateOf(slot) === BOUND;
    if (wasBound !== (state === BOUND)) this.boundCount += wasBound ? -1 : 1;
    records.state[slot] = state;
  }

  /** After a slot changed: in the expiry heap at its new time if it holds its address, out of it if not; staged. */
  private changed(slot: number): Lease {
    const records = this.records;
    if (holdsAddress(records.stateOf(slot))) this.expiries.update(slot);
    else this.expiries.remove(slot);
    const lease = records.lease(slot);
    this.store.stage(lease);
    return lease;
  }

  /** Adds a slot to the ring of its MAC's slots (the ring is reached through the MAC's latest slot). */
  private joinMac(slot: number, key: number): void {
    this.linkMac(slot, key, this.latestSlotByMac.get(key));
  }

  /** Gives a slot the MAC `key` and links it into the ring of `member`, one of that MAC's slots (-1: a ring of one). */
  private linkMac(slot: number, key: number, member: number): void {
    const records = this.records;
    records.mac[slot] = key;
    if (member === -1) {
      records.nextSameMac[slot] = slot;
      return;
    }
    records.nextSameMac[slot] = records.nextSameMac[member] as number;
    records.nextSameMac[member] = slot;
  }

  /**
   * Takes a slot out of its MAC's ring (a MAC has few records: the ring is walked to find the slot before it). When
   * it was that MAC's latest record, the most recent of the MAC's other records takes its place (this only runs when
   * another MAC takes over an address). The slot keeps its MAC until the index no longer needs it to find the key.
   */
  private leaveMac(slot: number, key: number): void {
    const records = this.records;
    if (key === NO_MAC) return;
    const next = records.nextSameMac[slot] as number;
    const alone = next === slot;
    if (!alone) {
      let prev = next;
      while (records.nextSameMac[prev] !== slot) prev = records.nextSameMac[prev] as number;
      records.nextSameMac[prev] = next;
    }
    records.nextSameMac[slot] = -1;
    if (this.latestSlotByMac.get(key) === slot) {
      if (alone) this.latestSlotByMac.delete(key);
      else this.latestSlotByMac.set(key, this.latestInRing(next));
    }
    records.mac[slot] = NO_MAC;
  }

  /** The most recent record of the ring that `member` is in. */
  private latestInRing(member: number): number {
    const records = this.records;
    let latest = member;
    for (let other = records.nextSameMac[member] as number; other !== member; other = records.nextSameMac[other] as number) {
      if (this.isNewer(other, latest)) latest = other;
    }
    return latest;
  }
}
