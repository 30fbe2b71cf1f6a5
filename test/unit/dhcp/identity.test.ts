/**
 * Identity from the wire and fair shares (issue 11): a real DhcpServer on a real SQLite lease store, fed requests as a
 * hostile container would send them — another client's chaddr, a forged giaddr, a DECLINE/RELEASE of an address it
 * does not hold, a MAC taken over from another bridge port, and floods of new clients or declines from one port.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { type DhcpMessage, emptyMessage } from '../../../src/dhcp/message.ts';
import { AddressProber } from '../../../src/dhcp/probe.ts';
import { type Decision, DhcpServer, type IncomingRequest } from '../../../src/dhcp/server.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { macToBytes, parseIPv4 } from '../../../src/net/address.ts';

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}

const SERVER_IP = ip('10.0.0.1');
const RELAY_IP = ip('10.0.0.2');
const FIRST = ip('10.0.0.10');
const LAST = ip('10.0.0.250');
const T0 = 1_700_000_000_000;
const LEASE_SECONDS = 3600;
const HOUR_MS = 3_600_000;

function mac(n: number): string {
  return `02:1a:b0:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

interface Setup {
  rapidCommit?: boolean;
  relays?: number[];
  portLeaseLimit?: number;
  leaseSeconds?: number;
  prober?: AddressProber;
}

interface Fields {
  port?: number;
  frameSrcMac?: string;
  srcIp?: number;
  giaddr?: number;
  ciaddr?: number;
  requested?: number;
  serverId?: number;
  rapidCommit?: boolean;
  hostname?: string;
}

class Fixture {
  readonly clock = { now: T0 };
  /** Bridge ports that exist; tests remove one to say a container's veth is gone. */
  readonly ports = new Set<number>([1, 2, 3, 4, 5, 6, 7]);
  readonly store: LeaseStore;
  readonly pool: AddressPool;
  readonly table: LeaseTable;
  readonly server: DhcpServer;
  private xid = 1;

  constructor(t: TestContext, setup: Setup = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-identity-'));
    this.store = LeaseStore.open(join(dir, 'leases.db'));
    t.after(() => {
      this.store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    this.pool = new AddressPool(FIRST, LAST);
    this.table = new LeaseTable({ store: this.store, pool: this.pool, now: () => this.clock.now });
    this.table.load();
    this.server = new DhcpServer({
      names: new HostNames(),
      network: { serverIp: SERVER_IP, prefixLength: 24, routers: [SERVER_IP], dnsServers: [SERVER_IP], domain: 'lxc', mtu: 1500 },
      leaseSeconds: setup.leaseSeconds ?? LEASE_SECONDS,
      rapidCommit: setup.rapidCommit ?? true,
      offerHoldMs: 60_000,
      declineQuarantineMs: 600_000,
      leases: this.table,
      pool: this.pool,
      reservations: [],
      prober: setup.prober ?? null,
      readyTarget: 0,
      readyFreshMs: 60_000,
      now: () => this.clock.now,
      relays: new Set(setup.relays ?? []),
      portExists: (i) => this.ports.has(i),
      ...(setup.portLeaseLimit !== undefined ? { portLeaseLimit: setup.portLeaseLimit } : {}),
    });
  }

  request(type: MessageType, clientMac: string, f: Fields = {}): IncomingRequest {
    const m: DhcpMessage = emptyMessage();
    m.op = 1;
    m.xid = this.xid++;
    m.giaddr = f.giaddr ?? 0;
    m.ciaddr = f.ciaddr ?? 0;
    macToBytes(clientMac).copy(m.chaddr, 0);
    m.options.setMessageType(type);
    if (f.requested !== undefined) m.options.setIPv4(Option.RequestedIpAddress, f.requested);
    if (f.serverId !== undefined) m.options.setIPv4(Option.ServerIdentifier, f.serverId);
    if (f.rapidCommit) m.options.set(Option.RapidCommit, Buffer.alloc(0));
    if (f.hostname !== undefined) m.options.setText(Option.HostName, f.hostname);
    return { message: m, frameSrcMac: f.frameSrcMac ?? clientMac, port: f.port ?? 0, srcIp: f.srcIp ?? m.giaddr };
  }

  handle(type: MessageType, clientMac: string, f: Fields = {}): Decision {
    const d = this.server.handle(this.request(type, clientMac, f));
    assert.ok(d.kind !== 'pending', 'expected a synchronous decision (probing is off)');
    if (d.kind === 'reply' && d.commit) this.table.commit();
    return d;
  }

  /** DISCOVER → OFFER → REQUEST → ACK from `port`; returns the bound address. */
  bind(clientMac: string, f: Fields = {}): number {
    const offer = replyOf(this.handle(MessageType.Discover, clientMac, f), MessageType.Offer);
    const ack = replyOf(this.handle(MessageType.Request, clientMac, { ...f, requested: offer.reply.yiaddr, serverId: SERVER_IP }), MessageType.Ack);
    return ack.reply.yiaddr;
  }

  /** RENEWING: unicast REQUEST with ciaddr. */
  renew(clientMac: string, address: number, f: Fields = {}): Decision {
    return this.handle(MessageType.Request, clientMac, { ...f, ciaddr: address });
  }
}

type ReplyDecision = Extract<Decision, { kind: 'reply' }>;

function replyOf(d: Decision, type: MessageType): ReplyDecision {
  if (d.kind !== 'reply') assert.fail(`expected a ${MessageType[type]} reply, got ${JSON.stringify(d)}`);
  assert.equal(d.reply.options.messageType, type, `reply type (event ${d.event.type} ${d.event.detail ?? ''})`);
  return d;
}

function dropOf(d: Decision, reason: string): void {
  assert.equal(d.kind, 'drop', `expected drop ${reason}, got ${JSON.stringify(d.kind === 'reply' ? d.event : d)}`);
  if (d.kind === 'drop') assert.equal(d.reason, reason, d.detail);
}

// ---- chaddr must be the frame's source ----

test('a direct request whose chaddr is not the frame source MAC is dropped (chaddr-mismatch), the victim keeps its lease and name', (t) => {
  const fx = new Fixture(t);
  const victim = mac(1);
  const attacker = mac(2);
  const address = fx.bind(victim, { port: 1, hostname: 'web' });
  for (const type of [MessageType.Discover, MessageType.Request, MessageType.Decline, MessageType.Release, MessageType.Inform]) {
    const d = fx.handle(type, victim, { port: 2, frameSrcMac: attacker, requested: address, ciaddr: type === MessageType.Release ? address : 0 });
    dropOf(d, 'chaddr-mismatch');
  }
  const lease = fx.table.byMac(victim);
  assert.equal(lease?.ip, address);
  assert.equal(lease?.state, 'bound');
  assert.equal(lease?.hostname, 'web', 'the victim keeps its DNS name');
});

// ---- relays only from --relay ----

test('relayed requests are dropped (relay-not-allowed) unless giaddr and UDP source are both a configured relay', (t) => {
  const none = new Fixture(t);
  dropOf(none.handle(MessageType.Discover, mac(1), { giaddr: RELAY_IP, frameSrcMac: mac(99) }), 'relay-not-allowed');

  const fx = new Fixture(t, { relays: [RELAY_IP] });
  replyOf(fx.handle(MessageType.Discover, mac(1), { giaddr: RELAY_IP, frameSrcMac: mac(99) }), MessageType.Offer);
  // The right giaddr from another sender, and another in-subnet giaddr from the relay's address.
  dropOf(fx.handle(MessageType.Discover, mac(2), { giaddr: RELAY_IP, srcIp: ip('10.0.0.7'), frameSrcMac: mac(98) }), 'relay-not-allowed');
  dropOf(fx.handle(MessageType.Discover, mac(3), { giaddr: ip('10.0.0.7'), srcIp: RELAY_IP, frameSrcMac: mac(99) }), 'relay-not-allowed');
  // A giaddr outside the subnet keeps its own reason.
  dropOf(fx.handle(MessageType.Discover, mac(4), { giaddr: ip('192.168.7.1'), frameSrcMac: mac(99) }), 'foreign-relay');
});

// ---- DECLINE and RELEASE need an active lease or offer ----

test('DECLINE or RELEASE by a MAC holding no lease or offer of that address is ignored (not-for-us)', (t) => {
  const fx = new Fixture(t);
  const victimAddress = fx.bind(mac(1), { port: 1 });
  // Another client, from its own MAC and port, names the victim's address.
  dropOf(fx.handle(MessageType.Decline, mac(2), { port: 2, requested: victimAddress }), 'not-for-us');
  dropOf(fx.handle(MessageType.Release, mac(2), { port: 2, ciaddr: victimAddress }), 'not-for-us');
  assert.equal(fx.table.byIp(victimAddress)?.state, 'bound');
  assert.equal(fx.table.byIp(victimAddress)?.mac, mac(1));
});

test('a released or expired record of the MAC does not entitle it to DECLINE the address (no quarantine)', (t) => {
  const fx = new Fixture(t);
  const released = fx.bind(mac(1), { port: 1 });
  assert.equal(fx.handle(MessageType.Release, mac(1), { port: 1, ciaddr: released }).kind, 'silent');
  dropOf(fx.handle(MessageType.Decline, mac(1), { port: 1, requested: released }), 'not-for-us');
  assert.equal(fx.table.byIp(released)?.state, 'released', 'not quarantined');
  assert.ok(fx.pool.isFree(released), 'the address stays free');

  const expired = fx.bind(mac(2), { port: 2 });
  fx.clock.now += LEASE_SECONDS * 1000 + 1;
  fx.server.tick();
  dropOf(fx.handle(MessageType.Decline, mac(2), { port: 2, requested: expired }), 'not-for-us');
  assert.notEqual(fx.table.byIp(expired)?.state, 'declined');
});

// ---- a binding remembers its bridge port ----

test('a MAC bound on one bridge port is refused from another (port-mismatch) while the old port exists', (t) => {
  const fx = new Fixture(t);
  const address = fx.bind(mac(1), { port: 1, hostname: 'web' });
  // Same MAC (the frame's too), another port: a neighbour that learnt the MAC from ARP.
  dropOf(fx.handle(MessageType.Discover, mac(1), { port: 2, rapidCommit: true }), 'port-mismatch');
  dropOf(fx.renew(mac(1), address, { port: 2 }), 'port-mismatch');
  dropOf(fx.handle(MessageType.Request, mac(1), { port: 2, requested: address }), 'port-mismatch');
  dropOf(fx.handle(MessageType.Decline, mac(1), { port: 2, requested: address }), 'port-mismatch');
  dropOf(fx.handle(MessageType.Release, mac(1), { port: 2, ciaddr: address }), 'port-mismatch');
  const lease = fx.table.byMac(mac(1));
  assert.equal(lease?.state, 'bound');
  assert.equal(lease?.hostname, 'web');
  // The owner on its own port, and an unknown port (0), are served.
  replyOf(fx.renew(mac(1), address, { port: 1 }), MessageType.Ack);
  replyOf(fx.renew(mac(1), address, { port: 0 }), MessageType.Ack);
});

test('when the old port is gone the MAC moves to the new port and gets its address back', (t) => {
  const fx = new Fixture(t);
  const address = fx.bind(mac(1), { port: 1 });
  fx.ports.delete(1); // the container restarted: its old veth is gone, the new one is port 5
  const again = replyOf(fx.handle(MessageType.Discover, mac(1), { port: 5 }), MessageType.Offer);
  assert.equal(again.reply.yiaddr, address);
  replyOf(fx.renew(mac(1), address, { port: 5 }), MessageType.Ack);
  // Now bound to port 5: port 6 (which exists) is refused.
  dropOf(fx.renew(mac(1), address, { port: 6 }), 'port-mismatch');
});

test('the port table keeps only clients with an offer or a lease', (t) => {
  const fx = new Fixture(t, { rapidCommit: false });
  const address = fx.bind(mac(1), { port: 1 });
  replyOf(fx.handle(MessageType.Discover, mac(2), { port: 2 }), MessageType.Offer);
  assert.equal(fx.server.portBindingCount, 2);
  fx.handle(MessageType.Release, mac(1), { port: 1, ciaddr: address });
  assert.equal(fx.server.portBindingCount, 1, 'forgotten when the lease is released');
  fx.clock.now += 61_000;
  fx.server.tick();
  assert.equal(fx.server.portBindingCount, 0, 'forgotten when the offer expires');
  // With nothing held, the MAC may start again from any port.
  replyOf(fx.handle(MessageType.Discover, mac(2), { port: 3 }), MessageType.Offer);
});

// ---- fair shares per port ----

test('new leases per port: 16, then port-lease-limit without an offer or a held address; another port unaffected; refilled over the hour', (t) => {
  const fx = new Fixture(t, { rapidCommit: false });
  for (let n = 1; n <= 16; n++) fx.bind(mac(n), { port: 3 });
  const free = fx.pool.freeCount;
  dropOf(fx.handle(MessageType.Discover, mac(17), { port: 3 }), 'port-lease-limit');
  assert.equal(fx.pool.freeCount, free, 'no address held for the refused client');
  assert.equal(fx.server.offers.forMac(mac(17)), undefined);
  fx.bind(mac(100), { port: 4 });
  // 16 an hour: one more after a sixteenth of an hour.
  fx.clock.now += HOUR_MS / 16 + 1;
  fx.bind(mac(17), { port: 3 });
  dropOf(fx.handle(MessageType.Discover, mac(18), { port: 3 }), 'port-lease-limit');
});

test('new leases per port also bound rapid commit, and an INIT-REBOOT REQUEST for a free address', (t) => {
  const fx = new Fixture(t);
  for (let n = 1; n <= 16; n++) replyOf(fx.handle(MessageType.Discover, mac(n), { port: 3, rapidCommit: true }), MessageType.Ack);
  const free = fx.pool.freeCount;
  dropOf(fx.handle(MessageType.Discover, mac(17), { port: 3, rapidCommit: true }), 'port-lease-limit');
  dropOf(fx.handle(MessageType.Request, mac(18), { port: 3, requested: ip('10.0.0.200') }), 'port-lease-limit');
  assert.equal(fx.pool.freeCount, free);
  replyOf(fx.handle(MessageType.Discover, mac(19), { port: 4, rapidCommit: true }), MessageType.Ack);
});

test('a new lease refused at the last step leaves no offer and no address held', (t) => {
  const fx = new Fixture(t);
  const offered = replyOf(fx.handle(MessageType.Discover, mac(1), { port: 3 }), MessageType.Offer).reply.yiaddr;
  // INIT-REBOOT REQUESTs for free addresses spend the port's 16 tokens (they need no offer first).
  for (let n = 2; n <= 17; n++) replyOf(fx.handle(MessageType.Request, mac(n), { port: 3, requested: ip('10.0.0.200') + n }), MessageType.Ack);
  dropOf(fx.handle(MessageType.Discover, mac(1), { port: 3, rapidCommit: true }), 'port-lease-limit');
  assert.equal(fx.server.offers.forMac(mac(1)), undefined);
  assert.ok(fx.pool.isFree(offered), 'the offered address is free again');
});

test('--port-lease-limit sets the count; 0 turns it off', (t) => {
  const two = new Fixture(t, { portLeaseLimit: 2 });
  two.bind(mac(1), { port: 3 });
  two.bind(mac(2), { port: 3 });
  dropOf(two.handle(MessageType.Discover, mac(3), { port: 3 }), 'port-lease-limit');
  const off = new Fixture(t, { portLeaseLimit: 0 });
  for (let n = 1; n <= 40; n++) replyOf(off.handle(MessageType.Discover, mac(n), { port: 3, rapidCommit: true }), MessageType.Ack);
});

test('renewals, rebinding and returning clients never use new-lease tokens', (t) => {
  // Short leases, so one can expire within a few seconds of new-lease refill (16 an hour: 0.27 in 60 s).
  const fx = new Fixture(t, { rapidCommit: false, leaseSeconds: 60 });
  const first = fx.bind(mac(1), { port: 3 });
  for (let i = 0; i < 40; i++) {
    fx.clock.now += 500;
    replyOf(fx.renew(mac(1), first, { port: 3 }), MessageType.Ack);
    replyOf(fx.handle(MessageType.Request, mac(1), { port: 3, requested: first }), MessageType.Ack); // INIT-REBOOT
  }
  // 15 tokens are left for 15 more new clients.
  const addresses = [first];
  for (let n = 2; n <= 16; n++) addresses.push(fx.bind(mac(n), { port: 3 }));
  dropOf(fx.handle(MessageType.Discover, mac(17), { port: 3 }), 'port-lease-limit');
  // With no token left, a client that released comes back to its address, and one whose lease expired too.
  fx.handle(MessageType.Release, mac(2), { port: 3, ciaddr: addresses[1] as number });
  assert.equal(fx.bind(mac(2), { port: 3 }), addresses[1]);
  fx.clock.now += 60_000 + 1;
  fx.server.tick();
  assert.equal(fx.table.byMac(mac(3))?.state, 'expired');
  assert.equal(fx.bind(mac(3), { port: 3 }), addresses[2]);
  replyOf(fx.renew(mac(3), addresses[2] as number, { port: 3 }), MessageType.Ack);
});

test('outstanding offers of new addresses per port: 8, then port-offer-limit; another port unaffected', (t) => {
  const fx = new Fixture(t, { rapidCommit: false });
  const offers: number[] = [];
  for (let n = 1; n <= 8; n++) offers.push(replyOf(fx.handle(MessageType.Discover, mac(n), { port: 3 }), MessageType.Offer).reply.yiaddr);
  dropOf(fx.handle(MessageType.Discover, mac(9), { port: 3 }), 'port-offer-limit');
  // A retransmitted DISCOVER of an offered client still gets its offer.
  assert.equal(replyOf(fx.handle(MessageType.Discover, mac(1), { port: 3 }), MessageType.Offer).reply.yiaddr, offers[0]);
  replyOf(fx.handle(MessageType.Discover, mac(10), { port: 4 }), MessageType.Offer);
  // One offer taken up: room for one more.
  replyOf(fx.handle(MessageType.Request, mac(1), { port: 3, requested: offers[0] as number, serverId: SERVER_IP }), MessageType.Ack);
  replyOf(fx.handle(MessageType.Discover, mac(9), { port: 3 }), MessageType.Offer);
  dropOf(fx.handle(MessageType.Discover, mac(11), { port: 3 }), 'port-offer-limit');
});

test('addresses being probed count as offers: a flood of DISCOVERs while probes run holds at most 8', async (t) => {
  const prober = new AddressProber(() => undefined, 30); // nobody answers: every address is free after 30 ms
  t.after(() => prober.close());
  const fx = new Fixture(t, { rapidCommit: false, prober });
  const waiting: Promise<Decision>[] = [];
  const refused: string[] = [];
  for (let n = 1; n <= 20; n++) {
    const d = fx.server.handle(fx.request(MessageType.Discover, mac(n), { port: 3 }));
    if (d.kind === 'pending') waiting.push(d.settled);
    else refused.push(d.kind === 'drop' ? d.reason : d.kind);
  }
  assert.equal(waiting.length, 8);
  assert.deepEqual(new Set(refused), new Set(['port-offer-limit']));
  const offers = await Promise.all(waiting);
  assert.ok(offers.every((d) => d.kind === 'reply'));
  assert.equal(fx.server.offers.size, 8);
});

test('declines per port: 4 quarantine, the 5th is ignored (port-decline-limit, address kept); another port unaffected', (t) => {
  const fx = new Fixture(t, { rapidCommit: false });
  const addresses: number[] = [];
  for (let n = 1; n <= 5; n++) addresses.push(fx.bind(mac(n), { port: 3 }));
  for (let n = 1; n <= 4; n++) {
    const d = fx.handle(MessageType.Decline, mac(n), { port: 3, requested: addresses[n - 1] as number });
    assert.equal(d.kind, 'silent', JSON.stringify(d));
    assert.equal(fx.table.byIp(addresses[n - 1] as number)?.state, 'declined');
  }
  dropOf(fx.handle(MessageType.Decline, mac(5), { port: 3, requested: addresses[4] as number }), 'port-decline-limit');
  assert.equal(fx.table.byIp(addresses[4] as number)?.state, 'bound', 'not quarantined');
  const other = fx.bind(mac(50), { port: 4 });
  assert.equal(fx.handle(MessageType.Decline, mac(50), { port: 4, requested: other }).kind, 'silent');
  assert.equal(fx.table.byIp(other)?.state, 'declined');
  // 4 an hour: one more after a quarter of an hour.
  fx.clock.now += HOUR_MS / 4 + 1;
  assert.equal(fx.handle(MessageType.Decline, mac(5), { port: 3, requested: addresses[4] as number }).kind, 'silent');
});

test('without a known port the frame MAC is the source: one MAC cannot decline without end', (t) => {
  const fx = new Fixture(t);
  const frame = mac(200);
  for (let n = 1; n <= 4; n++) {
    const address = replyOf(fx.handle(MessageType.Discover, frame, { rapidCommit: true }), MessageType.Ack).reply.yiaddr;
    assert.equal(fx.handle(MessageType.Decline, frame, { requested: address }).kind, 'silent');
  }
  const fifth = replyOf(fx.handle(MessageType.Discover, frame, { rapidCommit: true }), MessageType.Ack).reply.yiaddr;
  dropOf(fx.handle(MessageType.Decline, frame, { requested: fifth }), 'port-decline-limit');
  // Another MAC, port unknown too, is another source.
  const other = replyOf(fx.handle(MessageType.Discover, mac(201), { rapidCommit: true }), MessageType.Ack).reply.yiaddr;
  assert.equal(fx.handle(MessageType.Decline, mac(201), { requested: other }).kind, 'silent');
});

test('requests through a configured relay are exempt from the per-port limits', (t) => {
  const fx = new Fixture(t, { relays: [RELAY_IP] });
  for (let n = 1; n <= 40; n++) {
    replyOf(fx.handle(MessageType.Discover, mac(n), { giaddr: RELAY_IP, frameSrcMac: mac(999), port: 3, rapidCommit: true }), MessageType.Ack);
  }
});
