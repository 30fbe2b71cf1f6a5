/**
 * Publishes the names this daemon gives out (DHCPv4 lease names, reservations, with their IPv6 addresses) under
 * /lxc-dhcpd/v1/names/, each key attached to the host's etcd lease, and lets etcd decide who holds a name
 * cluster-wide (docs/cluster.md): a name is created only if absent (the first holder wins); a reservation may take a
 * name from another host's lease; an own key is replaced only at the revision we wrote. `sync(desired)` brings etcd to
 * what the daemon gives out now; it is called on every local change and after a reconnect. A name held elsewhere is
 * "lost": not published, logged once, and tried again when its holder lets it go (the watch tells `released`).
 */
import type { CreateResult, EtcdClient } from './etcd.ts';
import { encodeNameRecord, type NameRecord, nameKey, parseNameRecord, sameNameRecord } from './records.ts';

/**
 * Transactions in flight at once while syncing: a start with thousands of names (the 100 × 100 bench) would take
 * seconds one at a time; 32 keeps etcd's queue short (its default --max-concurrent-streams is far larger).
 */
const PUBLISH_CONCURRENCY = 32;

/** What the publisher needs of etcd (EtcdClient; a fake in the unit tests). */
export type NameWriter = Pick<EtcdClient, 'create' | 'replace' | 'remove'>;

/** What to do about a name we want, given the record etcd holds for it (null: unreadable, or none). */
type Ownership = 'update' | 'take-over' | 'lost';

/**
 * The conflict rules, as a pure function: our own key (a restart, a changed address) is updated; a reservation takes a
 * name from a lease; a record that does not parse answers nothing, so it is replaced; otherwise the holder keeps it.
 */
export function ownership(mine: NameRecord, current: NameRecord | null, self: string): Ownership {
  if (current === null || current.host === self) return 'update';
  if (mine.kind === 'reservation' && current.kind === 'lease') return 'take-over';
  return 'lost';
}

interface Published {
  record: NameRecord;
  modRevision: bigint;
}

interface PublisherOptions {
  self: string;
  writer: NameWriter;
  /** A name given out here that another host holds (logged once per loss). */
  onLost: (name: string, holder: string) => void;
  /** A revision we wrote (for the watch-lag metric). */
  onWrote?: (revision: bigint) => void;
}

/** Runs `tasks` with at most `limit` in flight. */
async function bounded(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<void>;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

export class NamePublisher {
  private readonly published = new Map<string, Published>();
  /** Names we give out that another host holds, with the holder: not tried again until the watch sees them go. */
  private readonly lostTo = new Map<string, string>();
  /** The holder each loss was logged with (a loss is logged once, not at every retry). */
  private readonly announced = new Map<string, string>();

  constructor(private readonly o: PublisherOptions) {}

  /** Names published by us now. */
  get publishedNames(): ReadonlyMap<string, Published> {
    return this.published;
  }

  /** Names we give out locally that another host holds cluster-wide, with their holder. */
  get lostNames(): ReadonlyMap<string, string> {
    return this.lostTo;
  }

  /**
   * After a reconnect (or a new etcd lease): our keys may be gone, and names lost meanwhile may have come free unseen;
   * the next sync decides every name again.
   */
  reconsiderAll(leaseLost: boolean): void {
    if (leaseLost) this.published.clear();
    this.lostTo.clear();
  }

  /** The watch saw `name` change to `record` (null: deleted). True when a sync should run (a name came free). */
  observed(name: string, record: NameRecord | null, revision: bigint): boolean {
    const mine = this.published.get(name);
    if (record === null) {
      if (mine !== undefined && revision > mine.modRevision) this.published.delete(name);
      return this.lostTo.delete(name) || mine !== undefined;
    }
    if (mine !== undefined && record.host !== this.o.self && revision > mine.modRevision) {
      // Taken over (a reservation on another host): dropped here, logged.
      this.published.delete(name);
      this.lose(name, record.host);
    }
    return false;
  }

  /** Brings etcd to `desired` (name → record, host = self). Throws when etcd fails; the caller retries. */
  async sync(desired: ReadonlyMap<string, NameRecord>, leaseId: string): Promise<void> {
    const tasks: (() => Promise<void>)[] = [];
    for (const [name, p] of this.published) if (!desired.has(name)) tasks.push(() => this.unpublish(name, p));
    for (const name of this.lostTo.keys()) if (!desired.has(name)) this.lostTo.delete(name);
    for (const name of this.announced.keys()) if (!desired.has(name)) this.announced.delete(name);
    for (const [name, record] of desired) {
      if (this.lostTo.has(name)) continue;
      const p = this.published.get(name);
      if (p !== undefined && sameNameRecord(p.record, record)) continue;
      tasks.push(() => this.publish(record, leaseId));
    }
    let failure: unknown = null;
    await bounded(
      tasks.map(
        (task) => () =>
          task().catch((e: unknown) => {
            failure ??= e;
          }),
      ),
      PUBLISH_CONCURRENCY,
    );
    if (failure !== null) throw failure;
  }

  private async unpublish(name: string, p: Published): Promise<void> {
    await this.o.writer.remove(nameKey(name), p.modRevision);
    if (this.published.get(name) === p) this.published.delete(name);
  }

  private async publish(record: NameRecord, leaseId: string): Promise<void> {
    const key = nameKey(record.name);
    const value = encodeNameRecord(record);
    const p = this.published.get(record.name);
    if (p !== undefined) {
      const revision = await this.o.writer.replace(key, value, leaseId, p.modRevision);
      if (revision !== null) return this.wrote(record, revision);
      this.published.delete(record.name); // changed under us: decide again below
    }
    const created: CreateResult = await this.o.writer.create(key, value, leaseId);
    if (created.created) return this.wrote(record, created.revision);
    if (created.current === null) return; // deleted between the compare and the read: the next sync creates it
    const parsed = parseNameRecord(record.name, created.current.value);
    const current = parsed.ok ? parsed.value : null;
    const verdict = ownership(record, current, this.o.self);
    if (verdict === 'lost') return this.lose(record.name, current?.host ?? '?');
    const revision = await this.o.writer.replace(key, value, leaseId, created.current.modRevision);
    if (revision !== null) this.wrote(record, revision);
  }

  private wrote(record: NameRecord, revision: bigint): void {
    this.published.set(record.name, { record, modRevision: revision });
    this.lostTo.delete(record.name);
    this.announced.delete(record.name);
    this.o.onWrote?.(revision);
  }

  private lose(name: string, holder: string): void {
    if (this.announced.get(name) !== holder) this.o.onLost(name, holder);
    this.announced.set(name, holder);
    this.lostTo.set(name, holder);
  }
}
