/**
 * Which interfaces are ports of the bridge, as a cache in front of two kernel queries: the list of ports
 * (PacketSocket.bridgePorts(), an rtnetlink dump whose cost grows with the number of ports, about 8 µs each) and "is
 * this one interface a port" (PacketSocket.isPort(), one RTM_GETLINK, about 12 µs whatever the bridge's size). The
 * DHCP receive path asks for every frame, so answers come from the cache. An ifindex the cache does not know (a
 * container just started) is asked about alone, at most once per interval, so a flood of frames from interfaces off
 * the bridge (the uplink, a stray veth) costs at most one small query per interval. The whole list is fetched again
 * when it is older than its maximum age and a frame arrives (a container stopped: its port must stop counting). Knows
 * nothing of DHCP or sockets.
 */

/**
 * Least time between two questions about an unknown ifindex, in ms: an off-bridge flood costs at most 10 small
 * queries a second, while a new container's first DISCOVER is still recognised at once in the normal case (during
 * such a flood, at its retry 1-4 s later at worst).
 */
export const BRIDGE_PORT_REQUERY_MS = 100;
/**
 * Age after which the list of ports is fetched again before use, in ms: how long a deleted port may still count as a
 * port (a container moved to another port gets its binding back at most this much later). One dump a second while
 * frames arrive: about 8 ms a second with 1000 ports (measured 65-105 µs for 8 ports, 320-515 µs for 40).
 */
export const BRIDGE_PORT_MAX_AGE_MS = 1000;

interface BridgePortCacheOptions {
  /** The ifindexes of the bridge's ports now; may throw (reported, the old answer is kept). */
  query: () => readonly number[];
  /** Whether one interface is a port of the bridge now; may throw (reported, answered false). */
  queryOne: (ifindex: number) => boolean;
  /** Monotonic clock in ms. */
  now: () => number;
  /** Told about a failed query (rate-limit logging is the caller's). */
  onError?: (error: Error) => void;
}

export class BridgePortCache {
  private ports = new Set<number>();
  private queriedAt = Number.NEGATIVE_INFINITY;
  private askedAt = Number.NEGATIVE_INFINITY;
  /** Kernel queries made: whole lists and single interfaces (for tests and metrics). */
  queries = 0;
  lookups = 0;

  constructor(private readonly o: BridgePortCacheOptions) {}

  /** True when `ifindex` is a port of the bridge (0, the "unknown" ifindex, never is). */
  has(ifindex: number): boolean {
    if (!Number.isInteger(ifindex) || ifindex <= 0) return false;
    const now = this.o.now();
    if (now - this.queriedAt >= BRIDGE_PORT_MAX_AGE_MS) return this.refresh().has(ifindex);
    if (this.ports.has(ifindex)) return true;
    if (now - this.askedAt < BRIDGE_PORT_REQUERY_MS) return false;
    this.askedAt = now;
    this.lookups++;
    try {
      if (!this.o.queryOne(ifindex)) return false;
    } catch (e) {
      this.o.onError?.(e instanceof Error ? e : new Error(String(e)));
      return false;
    }
    // Bounded: the kernel said it is a port, and a bridge has at most 1024 (BR_MAX_PORTS); the next refresh resets it.
    this.ports.add(ifindex);
    return true;
  }

  /** Asks the kernel for the whole list now, whatever the cache's age. */
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
