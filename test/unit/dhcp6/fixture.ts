/**
 * Shared pieces of the DHCPv6 unit tests: an in-memory Lease6Store (the real ones belong to the `leases6` helper's
 * memory-store.ts and sqlite-store.ts), a builder of client messages, and a server on a small --range6.
 */

import { Writer } from '../../../src/dhcp6/cursor.ts';
import { serverDuidFromMac } from '../../../src/dhcp6/duid.ts';
import { type Dhcp6Decision, Dhcp6Server, type Dhcp6ServerOptions, type Wire6 } from '../../../src/dhcp6/server.ts';
import { Option6 } from '../../../src/dhcp6/vocabulary.ts';
import { Address6Book, type Owner6, type Reservation6 } from '../../../src/leases/address6-book.ts';
import type { Lease6Store, StoredLease6 } from '../../../src/leases/lease6.ts';

/** Staged changes become durable on commit(): the tests check that a decision with commit:true staged something. */
export class MemoryLease6Store implements Lease6Store {
  readonly durable = new Map<string, StoredLease6>();
  readonly staged = new Map<string, StoredLease6 | null>();

  loadLeases6(): StoredLease6[] {
    return [...this.durable.values()].sort((a, b) => (a.ip < b.ip ? -1 : 1));
  }
  stage6(lease: StoredLease6): void {
    this.staged.set(lease.ip, { ...lease });
  }
  stageDelete6(ip: string): void {
    this.staged.set(ip, null);
  }
  commit(): number {
    const n = this.staged.size;
    for (const [ip, lease] of this.staged) {
      if (lease === null) this.durable.delete(ip);
      else this.durable.set(ip, lease);
    }
    this.staged.clear();
    return n;
  }
}

export const BRIDGE_MAC = '02:00:00:00:00:01';
export const SERVER_DUID = serverDuidFromMac(BRIDGE_MAC);
export const BRIDGE = 'fd42:1:2:3::1';
export const MAC_A = '02:1a:b0:00:00:0a';
export const MAC_B = '02:1a:b0:00:00:0b';
/** One DUID-LLT, as two cloned containers share it. */
export const DUID_A = Buffer.from('000100013290aabb021ab000000a', 'hex');

/** The book's owner of an IA sent from mac with a Client Identifier of duid (default DUID_A, as clientMessage sends). */
export function own(mac: string, iaid: number, duid: Buffer = DUID_A): Owner6 {
  return { mac, duidHex: duid.toString('hex'), iaid };
}

export interface IaSpec {
  iaid: number;
  addresses?: string[];
}

export interface MessageSpec {
  type: number;
  xid?: number;
  clientId?: Buffer | null;
  serverId?: Buffer | null;
  ias?: IaSpec[];
  oro?: number[];
  rapidCommit?: boolean;
  fqdn?: string;
  extra?: { code: number; value: Buffer }[];
}

function addressBytes(text: string): Buffer {
  const groups = text.split('::');
  const head = groups[0] ? groups[0].split(':') : [];
  const tail = groups.length > 1 && groups[1] ? groups[1].split(':') : [];
  const all = [...head, ...new Array(8 - head.length - tail.length).fill('0'), ...tail];
  return Buffer.from(all.map((g) => g.padStart(4, '0')).join(''), 'hex');
}

/** A client message as dhclient would send it. */
export function clientMessage(spec: MessageSpec): Buffer {
  const w = new Writer();
  const xid = spec.xid ?? 0x123456;
  w.u8(spec.type)
    .u8(xid >>> 16)
    .u16(xid & 0xffff);
  const clientId = spec.clientId === undefined ? DUID_A : spec.clientId;
  if (clientId !== null) w.option(Option6.ClientId, (x) => x.bytes(clientId));
  const serverId = spec.serverId ?? null;
  if (serverId !== null) w.option(Option6.ServerId, (x) => x.bytes(serverId));
  w.option(Option6.ElapsedTime, (x) => x.u16(0));
  if (spec.oro) {
    const oro = spec.oro;
    w.option(Option6.Oro, (x) => {
      for (const c of oro) x.u16(c);
    });
  }
  if (spec.rapidCommit) w.option(Option6.RapidCommit, () => {});
  if (spec.fqdn !== undefined) {
    const labels = spec.fqdn.split('.').filter((l) => l !== '');
    w.option(Option6.ClientFqdn, (x) => {
      x.u8(0);
      for (const l of labels) x.u8(l.length).bytes(Buffer.from(l, 'latin1'));
      x.u8(0);
    });
  }
  for (const ia of spec.ias ?? []) {
    w.option(Option6.IaNa, (x) => {
      x.u32(ia.iaid).u32(0).u32(0);
      for (const a of ia.addresses ?? []) x.option(Option6.IaAddress, (y) => y.bytes(addressBytes(a)).u32(0).u32(0));
    });
  }
  for (const o of spec.extra ?? []) w.option(o.code, (x) => x.bytes(o.value));
  return w.finish();
}

export function wire(mac: string, multicast = true): Wire6 {
  return { srcMac: mac, srcIp: `fe80::${mac.slice(-2)}`, multicast };
}

export interface Fixture {
  clock: { now: number };
  store: MemoryLease6Store;
  book: Address6Book;
  server: Dhcp6Server;
}

export function stateful(
  over: Partial<Dhcp6ServerOptions> = {},
  range = { first: 'fd42:1:2:3::100', last: 'fd42:1:2:3::1ff' },
  reservations: Reservation6[] = [],
): Fixture {
  const clock = { now: 1_700_000_000_000 };
  const store = new MemoryLease6Store();
  const book = new Address6Book({ range, store, now: () => clock.now });
  book.reserve(reservations);
  const server = new Dhcp6Server({ serverDuid: SERVER_DUID, bridgeAddress: BRIDGE, domain: 'lxc', leaseSeconds: 3600, rapidCommit: true, book, ...over });
  return { clock, store, book, server };
}

export function stateless(): Dhcp6Server {
  return new Dhcp6Server({ serverDuid: SERVER_DUID, bridgeAddress: BRIDGE, domain: 'lxc', leaseSeconds: 3600, rapidCommit: true, book: null });
}

export function replyOf(d: Dhcp6Decision): Extract<Dhcp6Decision, { kind: 'reply' }> {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(d)}`);
  return d;
}
