/**
 * A LeaseStore kept in memory: for unit tests of what sits on a store (no SQLite, no files), and the shape a cluster
 * store follows. Staged changes become durable in a separate step, like the SQLite store's sync: with `groupCommit`
 * that step ends on a later turn (setImmediate), and batches staged meanwhile share the next step, so the
 * commitThen() contract (store-contract.ts) is exercised for real. "Durable" here means: in snapshot(), which is what
 * a crash would keep and what a new store is made from (`from`) to model a restart.
 */
import type { IPv4 } from '../net/address.ts';
import { compareIPv6 } from '../net/address6.ts';
import { commitAndCall, type DurableSteps, GroupCommit } from './group-commit.ts';
import { LEASE_STATES, type Lease } from './lease.ts';
import type { Lease6Store, StoredLease6 } from './lease6.ts';
import { checkLease6 } from './lease6-check.ts';
import { macKey } from './mac-key.ts';
import type { CommitDone, LeaseStore, StoredLease, StoredReservation } from './store-contract.ts';

/** What a crash keeps: every durable lease (IPv4 and IPv6) and reservation. */
interface MemoryStoreSnapshot {
  leases: readonly Lease[];
  /** Absent in snapshots made before IPv6 leases existed: none then. */
  leases6?: readonly StoredLease6[];
  reservations: readonly StoredReservation[];
}

/** Staged or in-flight changes of both families; null means delete. */
interface Batch {
  v4: Map<IPv4, Lease | null>;
  v6: Map<string, StoredLease6 | null>;
}

interface MemoryStoreOptions {
  /** Durability on a later turn, shared by the batches staged meanwhile (as the daemon's SQLite store does). */
  groupCommit?: boolean;
  /** Start from what an earlier store left durable (a restart). */
  from?: MemoryStoreSnapshot;
}

function checkLease(lease: Lease): void {
  if (!(lease.ip >>> 0 === lease.ip)) throw new Error(`lease ${String(lease.ip)}: ip is not an IPv4 number`);
  if (Number.isNaN(macKey(lease.mac))) throw new Error(`lease ${lease.ip}: bad MAC ${JSON.stringify(lease.mac)}`);
  if (!LEASE_STATES.includes(lease.state)) throw new Error(`lease ${lease.ip}: unknown state ${JSON.stringify(lease.state)}`);
  if (!Number.isFinite(lease.expiresAt) || !Number.isFinite(lease.updatedAt)) throw new Error(`lease ${lease.ip}: times are not numbers`);
}

function copyLease(lease: Lease): Lease {
  return { ...lease, clientId: lease.clientId === null ? null : Buffer.from(lease.clientId) };
}

export class MemoryLeaseStore implements LeaseStore, Lease6Store {
  /** What a crash keeps. */
  private readonly durable = new Map<IPv4, Lease>();
  private readonly durable6 = new Map<string, StoredLease6>();
  private readonly reservations = new Map<string, StoredReservation>();
  /** Staged writes keyed by ip; null means delete. The last stage for an ip wins. */
  private staged: Batch = { v4: new Map(), v6: new Map() };
  /** Null without group commit (each commit is durable at once). */
  private readonly group: GroupCommit | null;
  /** The batch of the durable step under way (taken from staged, not durable yet). */
  private inFlight: Batch | null = null;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.group = options.groupCommit === true ? new GroupCommit(this.durableSteps()) : null;
    for (const lease of options.from?.leases ?? []) this.durable.set(lease.ip, copyLease(lease));
    for (const lease of options.from?.leases6 ?? []) this.durable6.set(lease.ip, { ...lease });
    for (const r of options.from?.reservations ?? []) this.reservations.set(r.mac, { ...r });
  }

  /** Addresses with a staged change, IPv4 and IPv6 together (one commit makes both durable). */
  get pendingCount(): number {
    return this.staged.v4.size + this.staged.v6.size;
  }

  get syncInFlight(): boolean {
    return this.group?.inFlight ?? false;
  }

  /** Every durable lease (address order) and reservation, copied: what a crash right now would keep. */
  snapshot(): MemoryStoreSnapshot {
    return {
      leases: [...this.durable.values()].sort((a, b) => a.ip - b.ip).map(copyLease),
      leases6: this.loadLeases6(),
      reservations: this.loadReservations(),
    };
  }

  loadLeases6(): StoredLease6[] {
    return [...this.durable6.values()].sort((a, b) => compareIPv6(a.ip, b.ip)).map((lease) => ({ ...lease }));
  }

  stage6(lease: StoredLease6): void {
    this.staged.v6.set(lease.ip, { ...lease });
  }

  stageDelete6(ip: string): void {
    this.staged.v6.set(ip, null);
  }

  leaseCount(): number {
    return this.durable.size;
  }

  expireLapsed(now: number): number {
    let rows = 0;
    for (const [ip, lease] of this.durable) {
      if ((lease.state === 'bound' || lease.state === 'declined') && now >= lease.expiresAt) {
        this.durable.set(ip, { ...lease, state: 'expired', updatedAt: lease.expiresAt });
        rows++;
      }
    }
    return rows;
  }

  load(visit: (lease: Readonly<StoredLease>) => void, expect?: (count: number) => void): void {
    expect?.(this.durable.size);
    const record: StoredLease = { ip: 0, macKey: 0, clientIdHex: null, hostname: null, stateCode: 0, expiresAt: 0, updatedAt: 0 };
    for (const lease of [...this.durable.values()].sort((a, b) => a.ip - b.ip)) {
      record.ip = lease.ip;
      record.macKey = macKey(lease.mac);
      record.clientIdHex = lease.clientId === null ? null : lease.clientId.toString('hex');
      record.hostname = lease.hostname;
      record.stateCode = LEASE_STATES.indexOf(lease.state);
      record.expiresAt = lease.expiresAt;
      record.updatedAt = lease.updatedAt;
      visit(record);
    }
  }

  stage(lease: Lease): void {
    this.staged.v4.set(lease.ip, lease);
  }

  stageDelete(ip: IPv4): void {
    this.staged.v4.set(ip, null);
  }

  commit(): number {
    return this.writeStaged();
  }

  commitThen(done: CommitDone): number {
    if (this.group === null) return commitAndCall(() => this.commit(), done);
    const handed = this.pendingCount;
    this.group.enqueue(done, handed);
    return handed;
  }

  /**
   * The durable step of group commit: everything staged is taken (checked, all or nothing) and applied on a later
   * turn, so batches staged meanwhile share the next step.
   */
  private durableSteps(): DurableSteps {
    return {
      write: () => {
        this.inFlight = this.takeStaged();
      },
      sync: (done) => {
        const writes = this.inFlight;
        setImmediate(() => {
          // close() may have made it durable already.
          if (writes !== null && this.inFlight === writes) this.apply(writes);
          this.inFlight = null;
          done(null);
        });
      },
    };
  }

  /** Checks every staged row first, so that a bad one leaves the whole batch staged; returns the batch. */
  private takeStaged(): Batch {
    for (const lease of this.staged.v4.values()) if (lease !== null) checkLease(lease);
    for (const lease of this.staged.v6.values()) if (lease !== null) checkLease6(lease);
    const writes = this.staged;
    this.staged = { v4: new Map(), v6: new Map() };
    return writes;
  }

  private writeStaged(): number {
    if (this.pendingCount === 0) return 0;
    return this.apply(this.takeStaged());
  }

  private apply(writes: Batch): number {
    let rows = 0;
    for (const [ip, lease] of writes.v4) {
      if (lease === null) {
        if (this.durable.delete(ip)) rows++;
      } else {
        this.durable.set(ip, copyLease(lease));
        rows++;
      }
    }
    for (const [ip, lease] of writes.v6) {
      if (lease === null) {
        if (this.durable6.delete(ip)) rows++;
      } else {
        this.durable6.set(ip, { ...lease });
        rows++;
      }
    }
    return rows;
  }

  loadReservations(): StoredReservation[] {
    return [...this.reservations.values()].sort((a, b) => a.ip - b.ip).map((r) => ({ ...r }));
  }

  saveReservation(reservation: StoredReservation): void {
    for (const other of this.reservations.values()) {
      if (other.mac === reservation.mac) continue;
      if (other.ip === reservation.ip) throw new Error(`address ${reservation.ip} is already reserved for ${other.mac}`);
      if (reservation.ip6 !== undefined && other.ip6 === reservation.ip6) throw new Error(`address ${reservation.ip6} is already reserved for ${other.mac}`);
      if (reservation.name !== null && other.name === reservation.name) throw new Error(`name ${reservation.name} is already reserved for ${other.mac}`);
    }
    this.reservations.set(reservation.mac, { ...reservation });
  }

  deleteReservation(mac: string): boolean {
    return this.reservations.delete(mac);
  }

  close(): void {
    if (this.closed) return;
    // Like the SQLite store, whose batch under way is in the WAL already: close() leaves it durable.
    if (this.inFlight !== null) this.apply(this.inFlight);
    this.inFlight = null;
    this.commit();
    // What waited for the next step is durable now (commit() wrote it).
    this.group?.close();
    this.closed = true;
  }
}
