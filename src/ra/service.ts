/**
 * The router-advertisement service of the bridge: RaSchedule decides when, message.ts encodes, src/wire/frame6.ts
 * frames, and an injected `send` puts whole frames on the bridge (Ipv6Port.send in the daemon). Solicitations come in
 * through handleSolicitation (Ipv6Port's onRouterSolicitation). RAs leave from the bridge's link-local address, which
 * the daemon supplies (`linkLocal()`, RFC 4861 §4.2 requires a link-local source); until it exists nothing is sent and
 * the multicast RA is retried. close() sends the final RA of §6.2.5. Counters feed the metrics.
 */
import type { Logger, RateLimitedCounter } from '../log.ts';
import { ALL_NODES, isUnspecified, multicastMac, prefix64 } from '../net/address6.ts';
import { buildIcmpv6Frame } from '../wire/frame6.ts';
import { type Dhcp6Mode, encodeRouterAdvertisement, type Icmpv6Input, ND_HOP_LIMIT, parseRouterSolicitation, type RouterAdvertisement } from './message.ts';
import { MAX_RTR_ADV_INTERVAL_MS, RaSchedule } from './schedule.ts';

/** RFC 4861 §6.2.1 AdvDefaultLifetime default, 3 * MaxRtrAdvInterval (systemd-networkd and radvd send the same). */
export const ROUTER_LIFETIME_S = (3 * MAX_RTR_ADV_INTERVAL_MS) / 1000;
/**
 * Prefix lifetimes: radvd's defaults (1 day valid, 4 h preferred), shorter than RFC 4861's 30/7 days so that addresses
 * of a prefix the operator stopped using (another --ipv6) go away within a day; re-advertised every <= 10 minutes.
 */
const PREFIX_VALID_LIFETIME_S = 86_400;
const PREFIX_PREFERRED_LIFETIME_S = 14_400;
/** RFC 8106 §5.1: RDNSS (and DNSSL) lifetime at least 3 * MaxRtrAdvInterval by default. */
const DNS_LIFETIME_S = (3 * MAX_RTR_ADV_INTERVAL_MS) / 1000;
/**
 * The valid lifetime in the final RA: RFC 4862 §5.5.3 (e) lets an unauthenticated RA shorten a valid lifetime to no
 * less than 2 hours, so this is the shortest that takes effect (radvd's DeprecatePrefix sends a little more than 2 hours, to the same effect).
 */
export const FINAL_PREFIX_VALID_LIFETIME_S = 7_200;
/** How long to wait for the bridge's link-local address (DAD takes about a second) before trying a multicast RA again. */
export const LINK_LOCAL_RETRY_MS = 1_000;

export interface RaConfig {
  /** Any address in the /64 to advertise (the bridge's own will do: only its first 64 bits are used). */
  prefix: Buffer;
  /** Advertised in the MTU option; null leaves the option out. */
  mtu: number | null;
  /** RDNSS: the bridge's IPv6 address(es) where DNS answers. */
  dnsServers: readonly Buffer[];
  /** DNSSL: e.g. ['lxc'] (--domain). */
  domains: readonly string[];
  mode: Dhcp6Mode;
}

interface RaTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

interface RaServiceOptions {
  config: RaConfig;
  /** The bridge's MAC now (Ethernet source and source link-layer option). */
  mac: () => string;
  /** The bridge's link-local address now (16 bytes), or null while it has none (not yet, or DAD pending). */
  linkLocal: () => Buffer | null;
  /** Puts a whole Ethernet frame on the bridge; false when it was not sent. */
  send: (frame: Buffer) => boolean;
  log: Logger;
  drops: RateLimitedCounter;
  /** Told about every RS received and RA sent, by kind (metrics). */
  onMessage?: (direction: 'received' | 'sent', kind: 'rs' | 'ra-solicited' | 'ra-unsolicited' | 'ra-final') => void;
  /** Told about every solicitation dropped, by reason (metrics). */
  onDrop?: (reason: string) => void;
  /** Monotonic ms clock, random in [0, 1) and timers: injected by tests. */
  now?: () => number;
  random?: () => number;
  timers?: RaTimers;
}

interface RaCounters {
  rsReceived: number;
  rsDropped: number;
  sentSolicited: number;
  sentUnsolicited: number;
  sentFinal: number;
}

const realTimers: RaTimers = {
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class RaService {
  readonly counters: RaCounters = { rsReceived: 0, rsDropped: 0, sentSolicited: 0, sentUnsolicited: 0, sentFinal: 0 };
  readonly #o: RaServiceOptions;
  readonly #now: () => number;
  readonly #timers: RaTimers;
  readonly #schedule: RaSchedule;
  #config: RaConfig;
  #cached: { mac: string; message: Buffer } | null = null;
  #timer: unknown = null;
  #started = false;
  #closed = false;

  /** Throws RangeError when the configuration cannot be encoded (see encodeRouterAdvertisement). */
  constructor(o: RaServiceOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
    this.#timers = o.timers ?? realTimers;
    this.#config = o.config;
    encodeRouterAdvertisement(this.#advertisement(o.mac(), 'normal'));
    this.#schedule = new RaSchedule({ now: this.#now, random: o.random ?? Math.random });
  }

  /** Sends the first multicast RA now (or as soon as there is a link-local address) and keeps sending them. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#tick();
  }

  /** New MTU, DNS or domains (the bridge's MTU changed, a reload): used from the next RA on. Throws like the constructor. */
  setConfig(config: RaConfig): void {
    const previous = this.#config;
    this.#config = config;
    try {
      encodeRouterAdvertisement(this.#advertisement(this.#o.mac(), 'normal'));
    } catch (e) {
      this.#config = previous;
      throw e;
    }
    this.#cached = null;
  }

  #advertisement(mac: string, kind: 'normal' | 'final'): RouterAdvertisement {
    const c = this.#config;
    const final = kind === 'final';
    return {
      mode: c.mode,
      routerLifetime: final ? 0 : ROUTER_LIFETIME_S,
      sourceMac: mac,
      mtu: c.mtu,
      prefix: {
        prefix: prefix64(c.prefix),
        validLifetime: final ? FINAL_PREFIX_VALID_LIFETIME_S : PREFIX_VALID_LIFETIME_S,
        preferredLifetime: final ? 0 : PREFIX_PREFERRED_LIFETIME_S,
      },
      dnsServers: c.dnsServers,
      domains: c.domains,
      dnsLifetime: final ? 0 : DNS_LIFETIME_S,
    };
  }

  #message(mac: string): Buffer {
    if (this.#cached?.mac !== mac) this.#cached = { mac, message: encodeRouterAdvertisement(this.#advertisement(mac, 'normal')) };
    return this.#cached.message;
  }

  #drop(reason: string, detail: string): void {
    this.counters.rsDropped++;
    this.#o.onDrop?.(reason);
    if (this.#o.drops.hit(reason)) this.#o.log.warn(`dropped router solicitation: ${reason}: ${detail}`);
  }

  /** Builds and sends one RA; false when it was not sent (the port counted why). */
  #send(source: Buffer, dst: Buffer, dstMac: string, message: Buffer): boolean {
    const mac = this.#o.mac();
    return this.#o.send(buildIcmpv6Frame({ srcMac: mac, dstMac, src: source, dst, hopLimit: ND_HOP_LIMIT }, message));
  }

  #arm(): void {
    if (this.#timer !== null) this.#timers.clear(this.#timer);
    this.#timer = this.#timers.set(() => this.#tick(), Math.max(0, this.#schedule.nextDueAt() - this.#now()));
  }

  #tick(): void {
    this.#timer = null;
    if (this.#closed) return;
    try {
      const source = this.#o.linkLocal();
      if (source === null) {
        if (this.#schedule.nextDueAt() <= this.#now()) this.#schedule.postpone(LINK_LOCAL_RETRY_MS);
      } else if (this.#schedule.takeDue()) {
        const mac = this.#o.mac();
        if (this.#send(source, ALL_NODES, multicastMac(ALL_NODES), this.#message(mac))) {
          this.counters.sentUnsolicited++;
          this.#o.onMessage?.('sent', 'ra-unsolicited');
        }
      }
    } catch (e) {
      this.#o.log.error(`router advertisement: ${(e as Error).stack ?? String(e)}`);
    }
    this.#arm();
  }

  /**
   * A router solicitation from a bridge port (Ipv6Port onRouterSolicitation). `srcMac` is the frame's source MAC:
   * a unicast answer goes there, never to the sender-written link-layer option, and it keys the per-source limit.
   */
  handleSolicitation(packet: Icmpv6Input, from: { srcMac: string }): void {
    if (this.#closed) return;
    this.counters.rsReceived++;
    this.#o.onMessage?.('received', 'rs');
    const parsed = parseRouterSolicitation(packet);
    if (!parsed.ok) {
      this.#drop(parsed.reason, `${parsed.detail} from ${from.srcMac}`);
      return;
    }
    const unspecified = isUnspecified(parsed.rs.src);
    const decision = this.#schedule.onSolicitation(from.srcMac, unspecified);
    if (decision === 'multicast-scheduled') {
      if (this.#started) this.#arm();
      return;
    }
    if (decision !== 'unicast') {
      this.#drop(decision, `from ${from.srcMac}`);
      return;
    }
    const source = this.#o.linkLocal();
    if (source === null) {
      this.#drop('no-link-local', `the bridge has no link-local address yet; ${from.srcMac} will solicit again`);
      return;
    }
    if (this.#send(source, parsed.rs.src, from.srcMac, this.#message(this.#o.mac()))) {
      this.counters.sentSolicited++;
      this.#o.onMessage?.('sent', 'ra-solicited');
    }
  }

  /**
   * Stops advertising. When it had started, sends one final multicast RA (RFC 4861 §6.2.5): router lifetime 0, so hosts
   * drop the default route via us at once; the prefix deprecated (preferred lifetime 0, valid FINAL_PREFIX_VALID_LIFETIME_S)
   * and RDNSS/DNSSL with lifetime 0 (RFC 8106 §5.1: stop using them), as radvd's DeprecatePrefix and FlushRDNSS do.
   * Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) this.#timers.clear(this.#timer);
    this.#timer = null;
    if (!this.#started) return;
    try {
      const source = this.#o.linkLocal();
      if (source === null) return;
      const mac = this.#o.mac();
      if (this.#send(source, ALL_NODES, multicastMac(ALL_NODES), encodeRouterAdvertisement(this.#advertisement(mac, 'final')))) {
        this.counters.sentFinal++;
        this.#o.onMessage?.('sent', 'ra-final');
      }
    } catch (e) {
      this.#o.log.error(`final router advertisement: ${(e as Error).message}`);
    }
  }
}
