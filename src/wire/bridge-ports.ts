/**
 * Which interfaces are ports of the bridge, as a cache in front of a kernel query (PacketSocket.bridgePorts(), an
 * rtnetlink dump). The DHCP receive path asks it for every frame, so answers come from the cache; the kernel is asked
 * again when a frame names an ifindex the cache does not know (a container just started), or when the cache has grown
 * old (a container stopped: its port must stop counting). Both are rate-limited, so a flood of frames from interfaces
 * off the bridge (the uplink, a stray veth) costs at most one query per interval. Knows nothing of DHCP or sockets.
 */

/**
 * Least time between two kernel queries, in ms. A dump of a bridge with a few hundred ports takes well under a
 * millisecond; 100 ms caps an off-bridge flood at 10 dumps a second, while a new container's first DISCOVER is still
 * recognised at once in the normal case (its retry 1-4 s later in the worst case).
 */
export const BRIDGE_PORT_REQUERY_MS = 100;
/**
 * Age after which a cached answer is refreshed before use, in ms: how long a deleted port may still count as a port
 * (a container moved to another port gets its binding back at most this much later).
 */
export const BRIDGE_PORT_MAX_AGE_MS = 1000;

export interface BridgePortCacheOptions {
  /** The ifindexes of the bridge's ports now; may throw (counted as a failed refresh, the old answer is kept). */
  query: () => readonly number[];
  /** Monotonic clock in ms. */
  now: () => number;
  /** Told about a failed query (rate-limit logging is the caller's). */
  onError?: (error: Error) => void;
}

export class BridgePortCache {
  private ports = new Set<number>();
  private queriedAt = Number.NEGATIVE_INFINITY;
  /** Kernel queries made (for tests and metrics). */
  queries = 0;

  constructor(private readonly o: BridgePortCacheOptions) {}

  /** True when `ifindex` is a port of the bridge (0, the "unknown" ifindex, never is). */
  has(ifindex: number): boolean {
    if (!Number.isInteger(ifindex) || ifindex <= 0) return false;
    const age = this.o.now() - this.queriedAt;
    const known = this.ports.has(ifindex);
    if (age >= BRIDGE_PORT_MAX_AGE_MS || (!known && age >= BRIDGE_PORT_REQUERY_MS)) return this.refresh().has(ifindex);
    return known;
  }

  /** Asks the kernel now, whatever the cache's age (after the bridge was re-created). */
  refresh(): ReadonlySet<number> {
    this.queriedAt = this.o.now();
    this.queries++;
    try {
      this.ports = new Set(this.o.query());
    } catch (e) {
      this.o.onError?.(e instanceof Error ? e : new Error(String(e)));
    }
    return this.ports;
  }
}
