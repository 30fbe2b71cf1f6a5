/**
 * LeaseRecords: the lease table's records as typed-array columns, one slot per address that ever had a record, and the
 * state codes (BOUND, RELEASED, EXPIRED, DECLINED). Only LeaseTable (table.ts) writes them; lease() makes a Lease
 * object from a slot for callers.
 */
import type { IPv4 } from '../net/address.ts';
import { ByteColumn } from './byte-column.ts';
import { LEASE_STATES, type Lease, type LeaseState } from './lease.ts';
import { macText, NO_MAC } from './mac-key.ts';

/** State codes of a record slot: each state's index in LEASE_STATES (the code the store reads from disk too). */
export const BOUND = 0;
export const RELEASED = 1;
export const EXPIRED = 2;
export const DECLINED = 3;

/** Room made for host names and client identifiers at first (bytes per slot; more is made as they come). */
const HOSTNAME_BYTES_PER_SLOT = 8;
const CLIENT_ID_BYTES_PER_SLOT = 0;

/**
 * One record per address, as columns: slot i of every array describes one address. A record costs 33 bytes here,
 * plus its host name and client identifier in byte columns (their bytes + 6 each), and nothing in it is traced by the
 * garbage collector; docs/leases.md has the sums. Lease objects are made on demand by lease().
 *
 * Slots are never freed: there is one per address that ever had a record, as in the database.
 */
export class LeaseRecords {
  ip: Uint32Array;
  /** macKey() of the owner; NO_MAC for a declined address. */
  mac: Float64Array;
  state: Uint8Array;
  expiresAt: Float64Array;
  updatedAt: Float64Array;
  /** Circular list of the slots that carry the same MAC (a slot alone points at itself; -1 without a MAC). */
  nextSameMac: Int32Array;
  /** DHCP option 61's bytes, or null. */
  readonly clientId: ByteColumn;
  /** UTF-8. */
  readonly hostname: ByteColumn;
  private used = 0;

  constructor(capacity: number) {
    const size = Math.max(16, capacity);
    this.ip = new Uint32Array(size);
    this.mac = new Float64Array(size);
    this.state = new Uint8Array(size);
    this.expiresAt = new Float64Array(size);
    this.updatedAt = new Float64Array(size);
    this.nextSameMac = new Int32Array(size);
    this.clientId = new ByteColumn(size, CLIENT_ID_BYTES_PER_SLOT);
    this.hostname = new ByteColumn(size, HOSTNAME_BYTES_PER_SLOT);
  }

  get count(): number {
    return this.used;
  }

  /** A new slot for `ip`, with no MAC; the caller fills in the rest. */
  add(ip: IPv4): number {
    if (this.used === this.ip.length) this.grow(Math.ceil(this.used * 1.5));
    const slot = this.used++;
    this.ip[slot] = ip;
    this.mac[slot] = NO_MAC;
    this.nextSameMac[slot] = -1;
    return slot;
  }

  stateOf(slot: number): number {
    return this.state[slot] as number;
  }

  /** A new Lease object with the slot's current values: callers own it, later changes of the slot do not reach it. */
  lease(slot: number): Lease {
    return {
      ip: this.ip[slot] as number,
      mac: macText(this.mac[slot] as number),
      clientId: this.clientId.buffer(slot),
      hostname: this.hostname.text(slot),
      state: LEASE_STATES[this.state[slot] as number] as LeaseState,
      expiresAt: this.expiresAt[slot] as number,
      updatedAt: this.updatedAt[slot] as number,
    };
  }

  private grow(capacity: number): void {
    const widen = <T extends Uint32Array | Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const wider = make(capacity);
      wider.set(old);
      return wider;
    };
    this.ip = widen(this.ip, (n) => new Uint32Array(n));
    this.mac = widen(this.mac, (n) => new Float64Array(n));
    this.state = widen(this.state, (n) => new Uint8Array(n));
    this.expiresAt = widen(this.expiresAt, (n) => new Float64Array(n));
    this.updatedAt = widen(this.updatedAt, (n) => new Float64Array(n));
    this.nextSameMac = widen(this.nextSameMac, (n) => new Int32Array(n));
    this.clientId.growSlots(capacity);
    this.hostname.growSlots(capacity);
  }
}
