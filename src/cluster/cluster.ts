/**
 * The cluster part of one daemon (issue 16): joins (reads the prefix, refuses a subnet overlapping another host's,
 * grants the host's etcd lease, publishes the host record), keeps the view current from the watch, publishes the
 * daemon's names on every local change, and rides out etcd faults: when etcd is unreachable DHCP and local names go
 * on untouched, remote names are answered from the last view with short TTLs (view.ts STALE_REMOTE_TTL) and the log
 * says so once; a reconnect loop joins again (re-grants the lease if it expired, re-reads everything, re-publishes and
 * reconciles: a name taken meanwhile is dropped here and logged). docs/cluster.md tells the same for operators.
 */
import type { Logger } from '../log.ts';
import { type EtcdClient, type HostLease, isLeaseGone } from './etcd.ts';
import { NamePublisher } from './publisher.ts';
import { classifyKey, encodeHostRecord, formatSubnet4, type HostRecord, hostKey, type NameRecord, prefixes6Overlap, subnetsOverlap } from './records.ts';
import { type ClusterReport, clusterReport } from './report.ts';
import { ClusterView } from './view.ts';

/** Pause between attempts to reach etcd again while it is unreachable (each attempt is bounded by the call deadline). */
const RECONNECT_INTERVAL_MS = 1000;
/** Keepalive intervals (TTL/3 each, etcd3's pace) that may fail in a row before etcd counts as unreachable. */
const KEEPALIVE_MISSES = 2;
/** Own writes remembered until the watch shows them (watch-lag metric); more in flight are not measured. */
const WATCH_LAG_PENDING_MAX = 1024;

export class ClusterStartError extends Error {}

/** What the metrics module is told (src/metrics.ts implements it). */
export interface ClusterMetricsSink {
  clusterRoundTrip(seconds: number): void;
  clusterWatchLag(seconds: number): void;
  clusterReconnect(): void;
}

interface ClusterOptions {
  client: EtcdClient;
  self: HostRecord;
  ttlSeconds: number;
  log: Logger;
  /** The names the daemon gives out now (name → record with host = self). */
  localNames: () => ReadonlyMap<string, NameRecord>;
  metrics?: ClusterMetricsSink | null;
}

/** The first other host whose subnet (or IPv6 prefix) overlaps ours; null when none does. */
export function overlappingHost(self: HostRecord, others: Iterable<HostRecord>): { host: HostRecord; what: string } | null {
  for (const h of others) {
    if (h.host === self.host) continue;
    if (subnetsOverlap(self, h)) return { host: h, what: formatSubnet4(h.network, h.prefixLength) };
    if (self.prefix6 && h.prefix6 && prefixes6Overlap(self.prefix6, h.prefix6)) return { host: h, what: `${h.prefix6.network}/${h.prefix6.prefixLength}` };
  }
  return null;
}

export class Cluster {
  readonly view: ClusterView;
  private readonly publisher: NamePublisher;
  private lease: HostLease | null = null;
  private watch: { cancel(): Promise<void> } | null = null;
  private connected = false;
  private closed = false;
  /** Revision of the last full read: watch events at or below it are already in the view. */
  private readRevision = 0n;
  private readonly pendingWrites = new Map<bigint, number>();
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: ClusterOptions) {
    this.view = new ClusterView(o.self.host, { ttl: o.ttlSeconds });
    this.publisher = new NamePublisher({
      self: o.self.host,
      writer: o.client,
      onLost: (name, holder) => o.log.warn(`cluster: name ${name} is held by host ${holder}: not published, answered on this host only`),
      onWrote: (revision) => {
        if (this.pendingWrites.size < WATCH_LAG_PENDING_MAX) this.pendingWrites.set(revision, performance.now());
      },
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Joins the cluster; a subnet overlapping another host's rejects with ClusterStartError. An etcd that cannot be
   * reached does not stop the daemon (a restart during an etcd outage must still serve DHCP): it is logged, and the
   * join is tried again every RECONNECT_INTERVAL_MS, the overlap check included.
   */
  async start(): Promise<void> {
    try {
      await this.join();
    } catch (e) {
      if (e instanceof ClusterStartError) throw e;
      this.view.setStale(true);
      this.o.log.warn(
        `cluster: cannot reach etcd (${(e as Error).message}): serving local names only until it answers (check --cluster-etcd and the --etcd-* files)`,
      );
      this.scheduleReconnect();
    }
  }

  /** Reads everything, checks overlaps, (re)grants the lease, publishes the host record and the names. */
  private async join(): Promise<void> {
    const read = await this.o.client.readAll();
    this.readRevision = read.revision;
    this.view.replaceAll(read.entries);
    const overlap = overlappingHost(
      this.o.self,
      this.view.hostList().map((h) => h.record),
    );
    if (overlap) {
      throw new ClusterStartError(
        `subnet ${formatSubnet4(this.o.self.network, this.o.self.prefixLength)} overlaps host ${overlap.host.host}'s ${overlap.what} in the cluster: give this bridge another subnet`,
      );
    }
    const leaseLost = this.lease === null;
    const lease = this.lease ?? (await this.grantLease());
    this.lease = lease;
    try {
      await this.o.client.put(hostKey(this.o.self.host), encodeHostRecord(this.o.self), lease.id);
    } catch (e) {
      // Expired while etcd was away (etcd3 may not have noticed yet): the next join grants a new one.
      if (isLeaseGone(e) && this.lease === lease) this.lease = null;
      throw e;
    }
    this.watch ??= await this.o.client.watch(
      read.revision + 1n,
      (c) => this.onChange(c.key, c.value, c.revision),
      // While the watch is re-connecting the view may miss changes: answered with the capped TTL meanwhile.
      (up) => this.view.setStale(!(up && this.connected)),
    );
    this.publisher.reconsiderAll(leaseLost);
    this.connected = true;
    this.view.setStale(false);
    await this.syncNames();
  }

  private async grantLease(): Promise<HostLease> {
    const lease = await this.o.client.grantLease(this.o.ttlSeconds);
    lease.onLost(() => {
      if (this.lease !== lease) return;
      this.lease = null;
      this.lostContact('our etcd lease expired');
    });
    // etcd3 re-opens a failed keepalive stream within 100 ms, on another member when one is down: only keepalives
    // failing for KEEPALIVE_MISSES intervals mean etcd is out of reach (one member of three down must change nothing).
    let lastOk = performance.now();
    lease.onKeepalive((ok) => {
      if (ok) lastOk = performance.now();
      else if (performance.now() - lastOk > (KEEPALIVE_MISSES * this.o.ttlSeconds * 1000) / 3) this.lostContact('keepalives fail');
    });
    return lease;
  }

  /** The client's reachability hook: a failed call means etcd is unreachable. */
  reachable(ok: boolean): void {
    if (!ok) this.lostContact('a call failed');
  }

  private lostContact(why: string): void {
    if (this.closed) return;
    if (this.connected) {
      this.connected = false;
      this.view.setStale(true);
      this.o.log.warn(`cluster: etcd unreachable (${why}): DHCP and local names go on, remote names are answered from the last view`);
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== null || this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.join().then(
        () => {
          this.o.metrics?.clusterReconnect();
          this.o.log.info(`cluster: etcd reachable again: ${this.publisher.publishedNames.size} names published, ${this.view.hostCount} hosts`);
        },
        (e: unknown) => {
          // An overlap does not go away by retrying: said once, and this host stays out of the cluster.
          if (e instanceof ClusterStartError) this.o.log.error(`cluster: ${e.message}; not joining`);
          else this.scheduleReconnect();
        },
      );
    }, RECONNECT_INTERVAL_MS);
    this.reconnectTimer.unref();
  }

  private onChange(key: string, value: Buffer | null, revision: bigint): void {
    const wroteAt = this.pendingWrites.get(revision);
    if (wroteAt !== undefined) {
      this.pendingWrites.delete(revision);
      this.o.metrics?.clusterWatchLag((performance.now() - wroteAt) / 1000);
    }
    if (revision <= this.readRevision) return;
    this.view.apply(key, value);
    this.view.contact();
    const which = classifyKey(key);
    if (which?.kind === 'host' && which.label === this.o.self.host && value === null && this.connected) {
      this.lostContact('our host record was deleted');
      return;
    }
    if (which?.kind !== 'name') return;
    if (this.publisher.observed(which.label, this.view.nameRecord(which.label) ?? null, revision)) this.namesChanged();
  }

  /** The daemon's names may have changed: publish what changed (coalesced; one sync at a time). */
  namesChanged(): void {
    if (!this.connected || this.closed) return;
    if (this.syncing !== null) {
      this.syncAgain = true;
      return;
    }
    void this.syncNames().catch(() => undefined);
  }

  private async syncNames(): Promise<void> {
    if (this.syncing !== null) {
      this.syncAgain = true;
      return this.syncing;
    }
    const run = async (): Promise<void> => {
      do {
        this.syncAgain = false;
        const lease = this.lease;
        if (lease === null || !this.connected) return;
        await this.publisher.sync(this.o.localNames(), lease.id);
      } while (this.syncAgain && !this.closed);
    };
    this.syncing = run().finally(() => (this.syncing = null));
    return this.syncing;
  }

  report(): ClusterReport {
    return clusterReport(this.view, this.connected, this.publisher.lostNames);
  }

  /** Leaves: the watch ends and the lease is revoked, so our names vanish from the other hosts now. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    await this.syncing?.catch(() => undefined);
    await this.watch?.cancel().catch(() => undefined);
    await this.lease?.revoke();
    this.o.client.close();
  }
}
