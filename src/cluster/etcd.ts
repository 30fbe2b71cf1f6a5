/**
 * The one place that talks to etcd (npm `etcd3`, the v3 gRPC client issue 16 names): connecting (with TLS from
 * --etcd-cacert/--etcd-cert/--etcd-key), the host's etcd lease kept alive, the transactions that decide who holds a
 * name (docs/cluster.md "what etcd decides"), a full read of the prefix, and the watch on it. Every unary call has a
 * deadline, so an unreachable etcd makes calls fail (and the cluster part say so) instead of hang; every call's round
 * trip is reported for the metrics. Nothing here interprets a value: records.ts parses what comes back.
 */
import { Etcd3, EtcdLeaseInvalidError, type IKeyValue, type IOptions, type Lease, type Watcher } from 'etcd3';
import { CLUSTER_PREFIX } from './records.ts';

/** Deadline of one unary etcd call: a healthy etcd answers in milliseconds, a lost one must not stall a sync. */
const CALL_DEADLINE_MS = 2000;
/** How long the gRPC channel may take to connect before a call fails. */
const DIAL_TIMEOUT_MS = 2000;
/**
 * The watch stream's re-connection delays: doubling from WATCH_RETRY_FIRST_MS up to WATCH_RETRY_MAX_MS. etcd3's own
 * default grows to 30 s, so after an outage a watch could stay silent for half a minute while etcd answers again
 * (a dead host's names would outlive it by that much); a second bounds it near the keepalive's pace.
 */
const WATCH_RETRY_FIRST_MS = 100;
const WATCH_RETRY_MAX_MS = 1000;

type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

function watchBackoff(delay: number): Backoff {
  return { duration: delay, next: () => watchBackoff(Math.min(delay * 2, WATCH_RETRY_MAX_MS)) };
}

export interface EtcdTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

interface EtcdOptions {
  endpoints: readonly string[];
  tls: EtcdTls | null;
}

interface EtcdHooks {
  /** Seconds one call took (successful or not). */
  onRoundTrip?: (seconds: number) => void;
  /** A call succeeded (true) or failed for lack of etcd (false). */
  onReachable?: (reachable: boolean) => void;
}

/** A key and its value as read (value null: deleted), and the revision that made it so. */
interface KeyChange {
  key: string;
  value: Buffer | null;
  revision: bigint;
}

export type CreateResult = { created: true; revision: bigint } | { created: false; current: { value: Buffer; modRevision: bigint } | null };

/** The etcd lease holding this host's keys, kept alive by etcd3 (a keepalive every TTL/3). */
export interface HostLease {
  readonly id: string;
  /** Told once when the lease is gone (expired in etcd, revoked): its keys are gone too. */
  onLost(listener: () => void): void;
  /** Told about each failed or successful keepalive (reachability). */
  onKeepalive(listener: (ok: boolean) => void): void;
  /** Stops keeping it alive and revokes it (its keys vanish now rather than after the TTL). */
  revoke(): Promise<void>;
}

/** The error etcd gives a write on a lease it no longer has (expired while it was unreachable). */
export function isLeaseGone(error: unknown): boolean {
  return error instanceof EtcdLeaseInvalidError || /lease not found/i.test((error as Error)?.message ?? '');
}

function toBig(text: string | undefined): bigint {
  try {
    return BigInt(text ?? '0');
  } catch {
    return 0n;
  }
}

export class EtcdClient {
  private readonly client: Etcd3;

  constructor(
    options: EtcdOptions,
    private readonly hooks: EtcdHooks = {},
  ) {
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      dialTimeout: DIAL_TIMEOUT_MS,
      ...(options.tls
        ? {
            credentials: {
              rootCertificate: options.tls.ca,
              ...(options.tls.key ? { privateKey: options.tls.key } : {}),
              ...(options.tls.cert ? { certChain: options.tls.cert } : {}),
            },
          }
        : {}),
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
      faultHandling: { watchBackoff: watchBackoff(WATCH_RETRY_FIRST_MS) },
    });
  }

  /** Times `call`, reports reachability, and passes its result or error through. */
  private async timed<T>(call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await call();
      this.hooks.onReachable?.(true);
      return result;
    } catch (e) {
      this.hooks.onReachable?.(false);
      throw e;
    } finally {
      this.hooks.onRoundTrip?.((performance.now() - started) / 1000);
    }
  }

  /** Grants a lease of `ttlSeconds` and starts keeping it alive. */
  async grantLease(ttlSeconds: number): Promise<HostLease> {
    const lease: Lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    // A failed grant also emits 'lost'; the rejection below is what the caller sees.
    lease.on('lost', () => undefined);
    let id: string;
    try {
      id = await this.timed(() => lease.grant());
    } catch (e) {
      lease.release();
      throw e;
    }
    return {
      id,
      onLost: (listener) => lease.once('lost', () => listener()),
      onKeepalive: (listener) => {
        lease.on('keepaliveSucceeded', () => listener(true));
        lease.on('keepaliveFailed', () => listener(false));
      },
      revoke: async () => {
        await lease.revoke().catch(() => undefined);
      },
    };
  }

  /** Puts `key` attached to `leaseId` unconditionally (the host record: only this host writes it). */
  async put(key: string, value: string, leaseId: string): Promise<void> {
    await this.timed(() => this.client.put(key).value(value).lease(leaseId).exec());
  }

  /** Creates `key` (attached to `leaseId`) only if absent; otherwise returns what is there. */
  async create(key: string, value: string, leaseId: string): Promise<CreateResult> {
    const response = await this.timed(() =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value).lease(leaseId)).else(this.client.get(key)).commit(),
    );
    if (response.succeeded) return { created: true, revision: toBig(response.header.revision) };
    const kv: IKeyValue | undefined = response.responses[0]?.response_range?.kvs[0];
    return { created: false, current: kv ? { value: kv.value, modRevision: toBig(kv.mod_revision) } : null };
  }

  /** Replaces `key` only if its mod revision is still `modRevision`; the new revision, or null when it changed. */
  async replace(key: string, value: string, leaseId: string, modRevision: bigint): Promise<bigint | null> {
    const response = await this.timed(() =>
      this.client.if(key, 'Mod', '==', modRevision.toString()).then(this.client.put(key).value(value).lease(leaseId)).commit(),
    );
    return response.succeeded ? toBig(response.header.revision) : null;
  }

  /** Deletes `key` only if its mod revision is still `modRevision` (it is still ours). */
  async remove(key: string, modRevision: bigint): Promise<boolean> {
    const response = await this.timed(() => this.client.if(key, 'Mod', '==', modRevision.toString()).then(this.client.delete().key(key)).commit());
    return response.succeeded;
  }

  /** Every key under the prefix, and the revision the read saw. */
  async readAll(): Promise<{ revision: bigint; entries: { key: string; value: Buffer; modRevision: bigint }[] }> {
    const response = await this.timed(() => this.client.getAll().prefix(CLUSTER_PREFIX).exec());
    return {
      revision: toBig(response.header.revision),
      entries: response.kvs.map((kv) => ({ key: kv.key.toString('latin1'), value: kv.value, modRevision: toBig(kv.mod_revision) })),
    };
  }

  /**
   * Watches the prefix from `fromRevision` on; `onChange` gets every put and delete, `onState` the stream's
   * connection (etcd3 reconnects by itself and resumes after the last revision seen).
   */
  async watch(fromRevision: bigint, onChange: (c: KeyChange) => void, onState: (connected: boolean) => void): Promise<{ cancel(): Promise<void> }> {
    const watcher: Watcher = await this.client.watch().prefix(CLUSTER_PREFIX).startRevision(fromRevision.toString()).create();
    watcher.on('put', (kv) => onChange({ key: kv.key.toString('latin1'), value: kv.value, revision: toBig(kv.mod_revision) }));
    watcher.on('delete', (kv) => onChange({ key: kv.key.toString('latin1'), value: null, revision: toBig(kv.mod_revision) }));
    watcher.on('disconnected', () => onState(false));
    watcher.on('connected', () => onState(true));
    watcher.on('error', () => onState(false));
    return { cancel: () => watcher.cancel() };
  }

  close(): void {
    this.client.close();
  }
}
