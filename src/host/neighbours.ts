/**
 * The containers' IPv6 addresses as the kernel's neighbour table on the bridge knows them (issue 13 item 4): an initial
 * dump (RTM_GETNEIGH, AF_INET6) and the RTNLGRP_NEIGH subscription (RTM_NEWNEIGH / RTM_DELNEIGH), through
 * netlink@0.3.0 like src/host/bridge.ts. Only entries on the bridge's ifindex, of a global unicast (2000::/3) or
 * unique local (fc00::/7) address and, when present, with a 6-byte link-layer address count; everything else is
 * skipped with a named reason. `parseNeighbourMessage` is the pure part (bytes in, verdict out, never throws);
 * `NeighbourWatcher` owns the two sockets. No pinging, no guessing: only what the kernel itself learned by neighbour
 * discovery. Runs in the network namespace of the calling process (the library opens its sockets there).
 */
import type { NetlinkMessage, RtNetlinkSocket } from 'netlink';
import { requireCjs } from '../cjs.ts';
import { macFromBytes } from '../net/address.ts';
import { formatIPv6, IPV6_LENGTH } from '../net/address6.ts';

type Netlink = typeof import('netlink');
// netlink's parts one by one: its index also loads nl80211 and WireGuard tables (~2 MB RSS) the daemon never uses
const { createRtNetlink } = requireCjs('netlink/dist/rt/rt') as Pick<Netlink, 'createRtNetlink'>;
const { FlagsGet } = requireCjs('netlink/dist/constants') as Pick<Netlink, 'FlagsGet'>;

export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
/** RTNLGRP_NEIGH (include/uapi/linux/rtnetlink.h). */
const RTNLGRP_NEIGH = 3;
export const AF_INET6 = 10;

/** struct ndmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u16 state; u8 flags; u8 type; } (linux/neighbour.h). */
const NDMSG_LENGTH = 12;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NLA_HEADER_LENGTH = 4;
const NLA_TYPE_MASK = 0x3fff;
const ETHERNET_ADDRESS_LENGTH = 6;

/** NUD_* states (linux/neighbour.h). */
export const Nud = {
  INCOMPLETE: 0x01,
  REACHABLE: 0x02,
  STALE: 0x04,
  DELAY: 0x08,
  PROBE: 0x10,
  FAILED: 0x20,
  NOARP: 0x40,
  PERMANENT: 0x80,
} as const;
/** NTF_PROXY: a proxy-NDP entry the administrator added, not a neighbour. */
const NTF_PROXY = 0x08;

/** The kernel can reach (or recently reached) the address at this MAC: RFC 4861 §7.3.2's reachable-or-usable states. */
const PRESENT_STATES = Nud.REACHABLE | Nud.STALE | Nud.DELAY | Nud.PROBE | Nud.PERMANENT;

/**
 * One neighbour entry's news:
 * - `present`: in a usable state (REACHABLE, STALE, DELAY, PROBE, PERMANENT) with its link-layer address;
 * - `failed`: neighbour unreachability detection gave up (FAILED, RFC 4861 §7.3.3): nobody answers for the address;
 * - `deleted`: RTM_DELNEIGH of an entry that had not failed (the garbage collector removing an idle STALE entry, a
 *   port or the bridge going down): says nothing about whether the address is still used.
 */
interface NeighbourEvent {
  change: 'present' | 'failed' | 'deleted';
  /** RFC 5952 text. */
  address: string;
  /** Lower-case colon form; null only for `failed`/`deleted` entries that carry none. */
  mac: string | null;
}

/** Why a message was skipped. */
type NeighbourSkip =
  | 'not-neighbour' // another message type
  | 'truncated' // shorter than its header, or an attribute runs past the end
  | 'family' // not AF_INET6 (IPv4 ARP, the bridge's own FDB)
  | 'interface' // not the bridge
  | 'proxy' // a proxy-NDP entry
  | 'no-address' // no NDA_DST of 16 bytes
  | 'scope' // link-local, multicast, loopback, unspecified, mapped...: not a container's global or ULA address
  | 'resolving' // INCOMPLETE: resolution in progress, no link-layer address and no verdict yet
  | 'no-state' // NUD_NONE or NOARP: no neighbour discovery behind it
  | 'no-lladdr'; // a usable state without a 6-byte link-layer address

type NeighbourParse = { ok: true; event: NeighbourEvent } | { ok: false; reason: NeighbourSkip };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u16(b: Buffer, at: number): number {
  return LITTLE_ENDIAN ? b.readUInt16LE(at) : b.readUInt16BE(at);
}

function s32(b: Buffer, at: number): number {
  return LITTLE_ENDIAN ? b.readInt32LE(at) : b.readInt32BE(at);
}

/** 2000::/3 (global unicast, RFC 4291 §2.5.4) or fc00::/7 (unique local, RFC 4193). */
function isGlobalOrUla(address: Uint8Array): boolean {
  const first = address[0] as number;
  return (first & 0xe0) === 0x20 || (first & 0xfe) === 0xfc;
}

/** NDA_DST and NDA_LLADDR of an ndmsg's attributes; null when one runs past the end. */
function readAttributes(payload: Buffer): { dst: Buffer | null; lladdr: Buffer | null } | null {
  let dst: Buffer | null = null;
  let lladdr: Buffer | null = null;
  let at = NDMSG_LENGTH;
  while (at + NLA_HEADER_LENGTH <= payload.length) {
    const length = u16(payload, at);
    const type = u16(payload, at + 2) & NLA_TYPE_MASK;
    if (length < NLA_HEADER_LENGTH || at + length > payload.length) return null;
    const value = payload.subarray(at + NLA_HEADER_LENGTH, at + length);
    if (type === NDA_DST) dst = value;
    else if (type === NDA_LLADDR) lladdr = value;
    at += (length + 3) & ~3;
  }
  return { dst, lladdr };
}

/**
 * The event one rtnetlink message (its type and the payload after the 16-byte netlink header) means for the
 * bridge `ifindex`, or why it means nothing. Pure; never throws, whatever the bytes.
 */
export function parseNeighbourMessage(type: number, payload: Buffer, ifindex: number): NeighbourParse {
  if (type !== RTM_NEWNEIGH && type !== RTM_DELNEIGH) return { ok: false, reason: 'not-neighbour' };
  if (payload.length < NDMSG_LENGTH) return { ok: false, reason: 'truncated' };
  if (payload[0] !== AF_INET6) return { ok: false, reason: 'family' };
  if (s32(payload, 4) !== ifindex) return { ok: false, reason: 'interface' };
  const state = u16(payload, 8);
  if (((payload[10] as number) & NTF_PROXY) !== 0) return { ok: false, reason: 'proxy' };
  const attributes = readAttributes(payload);
  if (attributes === null) return { ok: false, reason: 'truncated' };
  const { dst, lladdr } = attributes;
  if (dst === null || dst.length !== IPV6_LENGTH) return { ok: false, reason: 'no-address' };
  if (!isGlobalOrUla(dst)) return { ok: false, reason: 'scope' };
  const mac = lladdr !== null && lladdr.length === ETHERNET_ADDRESS_LENGTH ? macFromBytes(lladdr) : null;
  const address = formatIPv6(dst);
  if ((state & Nud.FAILED) !== 0) return { ok: true, event: { change: 'failed', address, mac } };
  if (type === RTM_DELNEIGH) return { ok: true, event: { change: 'deleted', address, mac } };
  if ((state & PRESENT_STATES) === 0) return { ok: false, reason: (state & Nud.INCOMPLETE) !== 0 ? 'resolving' : 'no-state' };
  if (mac === null) return { ok: false, reason: 'no-lladdr' };
  return { ok: true, event: { change: 'present', address, mac } };
}

/** The RTM_GETNEIGH dump request's payload: an ndmsg for AF_INET6 (the kernel filters the family). */
export function neighbourDumpRequest(): Buffer {
  const out = Buffer.alloc(NDMSG_LENGTH);
  out[0] = AF_INET6;
  return out;
}

/**
 * Events queued while a dump is in flight (they are applied after it, in order, so nothing that happened during the
 * dump is lost): a bridge with 1000 containers each changing two entries during a ~10 ms dump stays far below it.
 * Over it, the queue is dropped and another dump taken (counted in `overflows`).
 */
const NEIGHBOUR_MAX_QUEUED_EVENTS = 4096;
/**
 * SO_RCVBUF of the subscription socket. Each notification costs the socket about 1 KiB of buffer (skb truesize), so
 * this holds ~1000 unread events: a burst of every container on a large bridge re-resolving at once. When it
 * overflows the kernel reports ENOBUFS and we take a fresh dump (counted in `resyncs`).
 */
const NEIGHBOUR_RECEIVE_BUFFER_BYTES = 1 << 20;
/**
 * Dumps taken in a row while notifications keep overflowing the queue: after the third, the last snapshot is used and
 * the queued notifications are applied as far as they were kept (later events correct what was missed), so a
 * notification storm cannot keep the watcher dumping forever.
 */
const NEIGHBOUR_MAX_DUMP_ATTEMPTS = 3;
/** A dump the kernel has not finished in this time fails (it takes ~1 ms per 1000 entries). */
const NEIGHBOUR_DUMP_TIMEOUT_MS = 5_000;

interface NeighbourWatcherOptions {
  /** The bridge's ifindex now (a function: the daemon may re-create the bridge). */
  ifindex: () => number;
  /** One change, in the kernel's order. */
  onEvent: (event: NeighbourEvent) => void;
  /**
   * Every usable entry right now (the initial dump and every resync): whoever holds addresses the kernel no longer
   * has should treat them as `deleted`.
   */
  onSnapshot: (present: readonly NeighbourEvent[]) => void;
  /** Socket errors and failed dumps (the watcher keeps going). */
  onError?: (error: Error) => void;
}

interface NeighbourCounters {
  events: number;
  skipped: Partial<Record<NeighbourSkip, number>>;
  dumps: number;
  /** Dumps taken again after the kernel said ENOBUFS (notifications lost) or the queue overflowed. */
  resyncs: number;
  overflows: number;
}

/** Where neighbour news goes: src/leases/learned6.ts's Learned6 has this shape (host does not import it). */
interface NeighbourSink {
  seen(mac: string, address: string): void;
  failed(address: string): void;
  unconfirmed(address: string): void;
  snapshot(present: readonly { mac: string; address: string }[]): void;
}

/** The watcher's onEvent/onSnapshot feeding a sink: present → seen, failed → failed, deleted → unconfirmed. */
export function neighbourFeed(sink: NeighbourSink): Pick<NeighbourWatcherOptions, 'onEvent' | 'onSnapshot'> {
  return {
    onEvent: (e) => {
      if (e.change === 'present' && e.mac !== null) sink.seen(e.mac, e.address);
      else if (e.change === 'failed') sink.failed(e.address);
      else if (e.change === 'deleted') sink.unconfirmed(e.address);
    },
    onSnapshot: (present) => sink.snapshot(present.flatMap((e) => (e.mac === null ? [] : [{ mac: e.mac, address: e.address }]))),
  };
}

type Incoming = { type: number; payload: Buffer };

/**
 * Watches the bridge's IPv6 neighbours: subscribes first, then dumps on a second socket (netlink@0.3.0 groups
 * multipart replies per socket, and a notification arriving in the middle of a dump would cut it short), queues the
 * notifications that arrive meanwhile and applies them after the dump's snapshot.
 */
export class NeighbourWatcher {
  readonly counters: NeighbourCounters = { events: 0, skipped: {}, dumps: 0, resyncs: 0, overflows: 0 };
  private readonly subscription: RtNetlinkSocket;
  private queue: Incoming[] | null = null;
  private overflowed = false;
  private closed = false;

  private constructor(private readonly o: NeighbourWatcherOptions) {
    this.subscription = createRtNetlink();
    this.subscription.socket.setRecvBufferSize(NEIGHBOUR_RECEIVE_BUFFER_BYTES);
    this.subscription.socket.on('message', (messages) => this.receive(messages));
    this.subscription.socket.on('error', (error) => this.socketError(error));
    this.subscription.addMembership(RTNLGRP_NEIGH);
  }

  /** Subscribes, then reports the kernel's current entries through onSnapshot before resolving. */
  static async start(options: NeighbourWatcherOptions): Promise<NeighbourWatcher> {
    const watcher = new NeighbourWatcher(options);
    try {
      await watcher.resync();
    } catch (error) {
      watcher.close();
      throw error;
    }
    return watcher;
  }

  /** A fresh dump: onSnapshot with every usable entry, then the notifications queued meanwhile. */
  async resync(): Promise<void> {
    if (this.closed || this.queue !== null) return;
    this.queue = [];
    try {
      for (let attempt = 1; ; attempt++) {
        this.overflowed = false;
        const snapshot = await this.dump();
        if (this.closed) return;
        if (this.overflowed) this.counters.overflows++;
        if (this.overflowed && attempt < NEIGHBOUR_MAX_DUMP_ATTEMPTS) {
          this.queue = [];
          continue;
        }
        this.o.onSnapshot(snapshot);
        const queued = this.queue;
        this.queue = null;
        for (const message of queued) this.apply(message);
        return;
      }
    } finally {
      this.queue = null;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription.socket.close();
  }

  private async dump(): Promise<NeighbourEvent[]> {
    const socket = createRtNetlink();
    try {
      this.counters.dumps++;
      const [messages] = await socket.socket.request(RTM_GETNEIGH, neighbourDumpRequest(), {
        flags: FlagsGet.DUMP,
        timeout: NEIGHBOUR_DUMP_TIMEOUT_MS,
      });
      const present: NeighbourEvent[] = [];
      const ifindex = this.o.ifindex();
      for (const m of messages) {
        const parsed = parseNeighbourMessage(m.type, m.data, ifindex);
        if (parsed.ok && parsed.event.change === 'present') present.push(parsed.event);
      }
      return present;
    } finally {
      socket.socket.close();
    }
  }

  private receive(messages: readonly NetlinkMessage[]): void {
    for (const m of messages) {
      const incoming = { type: m.type, payload: m.data };
      const queue = this.queue;
      if (queue === null) this.apply(incoming);
      else if (queue.length < NEIGHBOUR_MAX_QUEUED_EVENTS) queue.push(incoming);
      else this.overflowed = true;
    }
  }

  private apply(message: Incoming): void {
    const parsed = parseNeighbourMessage(message.type, message.payload, this.o.ifindex());
    if (!parsed.ok) {
      this.counters.skipped[parsed.reason] = (this.counters.skipped[parsed.reason] ?? 0) + 1;
      return;
    }
    this.counters.events++;
    this.o.onEvent(parsed.event);
  }

  /** ENOBUFS: the kernel dropped notifications for us; only a new dump tells what we missed. */
  private socketError(error: Error & { code?: string }): void {
    if (this.closed) return;
    this.o.onError?.(new Error(`neighbour subscription: ${error.message}`));
    if (error.code !== 'ENOBUFS') return;
    this.counters.resyncs++;
    if (this.queue !== null) {
      this.overflowed = true; // a dump is in flight: it is taken again once done
      return;
    }
    this.resync().catch((e: unknown) => this.o.onError?.(new Error(`neighbour dump: ${(e as Error).message}`)));
  }
}
