/**
 * The `LeaseStore` interface: what the lease table and the daemon need from durable lease storage, and the contract
 * every store keeps — above all "no ACK before its binding is durable" (commitThen). The SQLite store
 * (sqlite-store.ts) is the daemon's; the in-memory store (memory-store.ts) serves unit tests and is the shape a
 * cluster store follows. test/unit/leases/store-contract.test.ts runs the same tests against both. This file knows no
 * storage: it imports nothing but the lease record types.
 */
import type { IPv4 } from '../net/address.ts';
import type { Lease } from './lease.ts';

/**
 * One stored lease as load() hands it to its visitor, storage-neutral and without a Lease object per row (start-up
 * at 100 000 leases is what this is for). A store may hand the same object to every call, filled anew: the visitor
 * must copy what it keeps.
 */
export interface StoredLease {
  ip: IPv4;
  /** macKey() of the owner (mac-key.ts): NO_MAC for a declined address, the same key for either case of the text. */
  macKey: number;
  /** DHCP option 61 as lower-case hex, or null. */
  clientIdHex: string | null;
  hostname: string | null;
  /** The state's index in LEASE_STATES (the table's state code). */
  stateCode: number;
  /** Unix epoch ms. */
  expiresAt: number;
  /** Unix epoch ms of the last state change. */
  updatedAt: number;
}

/** A reservation made at run time (`lxc-dhcpd reserve`), kept across restarts. */
export interface StoredReservation {
  mac: string;
  ip: IPv4;
  name: string | null;
  /** An IPv6 address (RFC 5952 text) reserved for the MAC's DHCPv6 IA_NA too; absent for an IPv4-only reservation. */
  ip6?: string;
}

/** Called once per commitThen(): null when the batch is durable, an error when it may not be (send no ACK then). */
export type CommitDone = (error: Error | null) => void;

/**
 * Durable lease storage. One record per address, never one per client; the last stage of an address wins.
 *
 * The contract, kept by every implementation (test/unit/leases/store-contract.test.ts):
 * - stage()/stageDelete() only remember a change in memory; nothing staged is durable until a commit says so.
 * - commit() makes everything staged durable in one all-or-nothing step and returns the rows changed; when it
 *   returns, a crash keeps them. When it throws, nothing of the batch is durable and the batch stays staged.
 * - commitThen(done) calls `done` exactly once. done(null) runs only after everything staged before the call is
 *   durable — never before; the DHCP server sends the ACKs of a batch from `done`, so no ACK leaves before its binding
 *   would survive a crash. Callbacks run in the order of the calls. A store may run `done` at once (nothing pending,
 *   or a synchronous store) or on a later turn; batches staged while a durable step runs may share the next one
 *   (group commit). done(error): the batch may not be durable; a batch whose write failed stays staged.
 * - syncInFlight is true while some `done` has not run yet (the daemon waits for it to drain before it stops).
 * - load() visits every durable lease in address order; `expect` first learns how many follow. A record the store
 *   cannot read stops the load with its address named. leaseCount() is that number without visiting them.
 * - Reservations are written durably at once (they are rare); a MAC has at most one, an address (IPv4 or IPv6) and
 *   a name at most one owner (saving a conflicting one throws).
 * - A store that also keeps IPv6 leases (Lease6Store, lease6.ts) stages them beside the IPv4 ones: pendingCount counts
 *   both, and one commit()/commitThen() makes both durable, with the same guarantees.
 * - close() commits what is staged and runs the callbacks still waiting.
 */
export interface LeaseStore {
  /** How many addresses have a staged change. */
  readonly pendingCount: number;
  readonly syncInFlight: boolean;
  load(visit: (lease: Readonly<StoredLease>) => void, expect?: (count: number) => void): void;
  /** How many IPv4 leases (any state) are durable. */
  leaseCount(): number;
  /**
   * Rewrites every bound or declined lease whose time is up at `now` as expired, changed at its expiry (what the
   * table takes it for at load anyway), written at once (not staged); returns how many. A restart after a downtime
   * longer than the leases makes every lease lapse: one statement instead of a staged record per lease.
   */
  expireLapsed(now: number): number;
  stage(lease: Lease): void;
  stageDelete(ip: IPv4): void;
  commit(): number;
  /** Returns the number of staged rows handed over by this call. */
  commitThen(done: CommitDone): number;
  loadReservations(): StoredReservation[];
  saveReservation(reservation: StoredReservation): void;
  /** False when the MAC had no stored reservation. */
  deleteReservation(mac: string): boolean;
  close(): void;
}
