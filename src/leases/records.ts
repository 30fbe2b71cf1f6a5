/**
 * LeaseRecords: the lease table's records as typed-array columns, one slot per address that ever had a record, and the
 * state codes (BOUND, RELEASED, EXPIRED, DECLINED). Only LeaseTable (table.ts) writes them; lease() makes a Lease
 * object from a slot for callers.
 */
import type { IPv4 } from '../net/address.ts';
import { LEASE_STATES, type Lease, type LeaseState } from './lease.ts';
import { macText, NO_MAC } from './mac-key.ts';

/** State codes of a record slot: each state's index in LEASE_STATES (the code the store reads from disk too). */
export const BOUND = 0;
export const RELEASED = 1;
export const EXPIRED = 2;
export const DECLINED = 3;

/**
 * One record per address, as columns: slot i of every array describes one address. A record costs about 60 bytes
 * here plus its hostname and client-id strings, where a Lease object with its boxed numbers costs three times that;
 * typed arrays also give the garbage collector nothing to trace. Lease objects are made on demand by lease().
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
  /** Bumped on every change of the slot: lets the expiry heap recognise entries of a superseded record. */
  version: Uint32Array;
  /** Circular list of the slots that carry the same MAC (a slot alone points at itself; -1 without a MAC). */
  nextSameMac: Int32Array;
  prevSameMac: Int32Array;
  /** Hex of DHCP option 61, or null. */
  readonly clientIdHex: (string | null)[];
  readonly hostname: (string | null)[];
  private used = 0;

  constructor(capacity: number) {
    const size = Math.max(16, capacity);
    this.ip = new Uint32Array(size);
    this.mac = new Float64Array(size);
    this.state = new Uint8Array(size);
    this.expiresAt = new Float64Array(size);
    this.updatedAt = new Float64Array(size);
    this.version = new Uint32Array(size);
    this.nextSameMac = new Int32Array(size);
    this.prevSameMac = new Int32Array(size);
    // Filled up front, not pushed: growing a large array by push copies it again and again.
    this.clientIdHex = new Array<string | null>(size).fill(null);
    this.hostname = new Array<string | null>(size).fill(null);
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
    this.prevSameMac[slot] = -1;
    this.clientIdHex[slot] = null;
    this.hostname[slot] = null;
    return slot;
  }

  stateOf(slot: number): number {
    return this.state[slot] as number;
  }

  /** A new Lease object with the slot's current values: callers own it, later changes of the slot do not reach it. */
  lease(slot: number): Lease {
    const clientIdHex = this.clientIdHex[slot] ?? null;
    return {
      ip: this.ip[slot] as number,
      mac: macText(this.mac[slot] as number),
      clientId: clientIdHex === null ? null : Buffer.from(clientIdHex, 'hex'),
      hostname: this.hostname[slot] ?? null,
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
    this.version = widen(this.version, (n) => new Uint32Array(n));
    this.nextSameMac = widen(this.nextSameMac, (n) => new Int32Array(n));
    this.prevSameMac = widen(this.prevSameMac, (n) => new Int32Array(n));
  }
}
