import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Reservation } from '../../../src/config/reservations.ts';
import { BROADCAST_FLAG, MessageType, Option } from '../../../src/dhcp/constants.ts';
import { type DhcpMessage, emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../../../src/dhcp/message.ts';
import { AddressProber } from '../../../src/dhcp/probe.ts';
import type { NetworkSettings } from '../../../src/dhcp/reply.ts';
import { type Decision, DhcpServer, type IncomingRequest, type LeaseEvent, settled } from '../../../src/dhcp/server.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore, readLeasesReadOnly } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { macToBytes, parseIPv4 } from '../../../src/net/address.ts';

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}

const SERVER_IP = ip('10.0.0.1');
const FIRST = ip('10.0.0.100');
const LAST = ip('10.0.0.110');
const T0 = 1_700_000_000_000;
const LEASE_SECONDS = 3600;
const NETWORK: NetworkSettings = {
  serverIp: SERVER_IP,
  prefixLength: 24,
  routers: [SERVER_IP],
  dnsServers: [SERVER_IP],
  domain: 'lxc',
  mtu: 1500,
};

function mac(n: number): string {
  return `02:1a:b0:00:00:${n.toString(16).padStart(2, '0')}`;
}

interface Setup {
  reservations?: Reservation[];
  prober?: AddressProber | null;
  rapidCommit?: boolean;
  readyTarget?: number;
  relays?: number[];
  /** Bridge ports that exist (for the port-binding rule); every port when absent. */
  ports?: Set<number>;
  portLeaseLimit?: number;
}

class Fixture {
  readonly clock = { now: T0 };
  /** Conflicts the server reported through onConflict. */
  readonly conflicts: LeaseEvent[] = [];
  readonly path: string;
  store!: LeaseStore;
  pool!: AddressPool;
  table!: LeaseTable;
  names!: HostNames;
  server!: DhcpServer;

  constructor(
    t: TestContext,
    private readonly setup: Setup = {},
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-server-'));
    this.path = join(dir, 'leases.db');
    t.after(() => {
      this.store.close();
      setup.prober?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    this.open();
  }

  /** Opens the store and builds table, pool and server on it: first start, or a restart after restart(). */
  private open(): void {
    this.store = LeaseStore.open(this.path);
    this.pool = new AddressPool(FIRST, LAST);
    this.table = new LeaseTable({ store: this.store, pool: this.pool, now: () => this.clock.now });
    this.table.load();
    this.names = new HostNames();
    this.server = new DhcpServer({
      names: this.names,
      network: NETWORK,
      leaseSeconds: LEASE_SECONDS,
      rapidCommit: this.setup.rapidCommit ?? true,
      offerHoldMs: 30_000,
      declineQuarantineMs: 600_000,
      leases: this.table,
      pool: this.pool,
      reservations: this.setup.reservations ?? [],
      prober: this.setup.prober ?? null,
      readyTarget: this.setup.readyTarget ?? 0,
      readyFreshMs: 60_000,
      now: () => this.clock.now,
      onConflict: (e) => this.conflicts.push(e),
      relays: new Set(this.setup.relays ?? []),
      portExists: (i) => this.setup.ports?.has(i) ?? true,
      ...(this.setup.portLeaseLimit !== undefined ? { portLeaseLimit: this.setup.portLeaseLimit } : {}),
    });
  }

  restart(): void {
    this.store.close();
    this.open();
  }

  /** handle() as the daemon does it: a decision that asks for a commit is committed before anything is sent. */
  handle(r: IncomingRequest): Decision {
    const d = this.server.handle(r);
    assert.ok(d.kind !== 'pending', 'expected a synchronous decision (probing is off)');
    if (d.kind === 'reply' && d.commit) this.table.commit();
    return d;
  }

  async handleAsync(r: IncomingRequest): Promise<Decision> {
    const d = await settled(this.server.handle(r));
    if (d.kind === 'reply' && d.commit) this.table.commit();
    return d;
  }

  /** DISCOVER then REQUEST (selecting); returns the bound address. */
  bindClient(m: string, extra: RequestFields = {}): number {
    const offer = replyOf(this.handle(request(MessageType.Discover, m, extra)), MessageType.Offer);
    const ack = replyOf(this.handle(request(MessageType.Request, m, { ...extra, requested: offer.reply.yiaddr, serverId: SERVER_IP })), MessageType.Ack);
    assert.equal(ack.reply.yiaddr, offer.reply.yiaddr);
    return ack.reply.yiaddr;
  }
}

interface RequestFields {
  xid?: number;
  ciaddr?: number;
  giaddr?: number;
  flags?: number;
  requested?: number;
  serverId?: number;
  clientId?: Buffer;
  hostname?: string;
  rapidCommit?: boolean;
  frameSrcMac?: string;
  /** Bridge port the frame came in on (0: unknown). */
  port?: number;
  /** UDP source address; the relay's own by default for relayed requests. */
  srcIp?: number;
}

let nextXid = 0x1000;

function request(type: MessageType | null, clientMac: string, f: RequestFields = {}): IncomingRequest {
  const m: DhcpMessage = emptyMessage();
  m.op = 1;
  m.htype = 1;
  m.hlen = 6;
  m.xid = f.xid ?? nextXid++;
  m.flags = f.flags ?? 0;
  m.ciaddr = f.ciaddr ?? 0;
  m.giaddr = f.giaddr ?? 0;
  macToBytes(clientMac).copy(m.chaddr, 0);
  if (type !== null) m.options.setMessageType(type);
  if (f.requested !== undefined) m.options.setIPv4(Option.RequestedIpAddress, f.requested);
  if (f.serverId !== undefined) m.options.setIPv4(Option.ServerIdentifier, f.serverId);
  if (f.clientId) m.options.set(Option.ClientIdentifier, f.clientId);
  if (f.hostname !== undefined) m.options.setText(Option.HostName, f.hostname);
  if (f.rapidCommit) m.options.set(Option.RapidCommit, Buffer.alloc(0));
  return { message: m, frameSrcMac: f.frameSrcMac ?? clientMac, port: f.port ?? 0, srcIp: f.srcIp ?? m.giaddr };
}

type ReplyDecision = Extract<Decision, { kind: 'reply' }>;

function replyOf(d: Decision, type: MessageType): ReplyDecision {
  if (d.kind !== 'reply') assert.fail(`expected a ${MessageType[type]} reply, got ${JSON.stringify(d)}`);
  assert.equal(d.reply.options.messageType, type, `reply type (event ${d.event.type} ${d.event.detail ?? ''})`);
  return d;
}

function dropOf(d: Decision, reason: string): void {
  assert.equal(d.kind, 'drop', JSON.stringify(d));
  if (d.kind === 'drop') assert.equal(d.reason, reason, d.detail);
}

// ---- DISCOVER ----

test('DISCOVER → OFFER with the configuration options, unicast to yiaddr at chaddr', (t) => {
  const fx = new Fixture(t);
  const r = request(MessageType.Discover, mac(1), { hostname: 'web', xid: 0xdeadbeef });
  const d = replyOf(fx.handle(r), MessageType.Offer);
  const o = d.reply;
  assert.ok(o.yiaddr >= FIRST && o.yiaddr <= LAST);
  assert.equal(o.op, 2);
  assert.equal(o.xid, 0xdeadbeef);
  assert.deepEqual(o.chaddr, r.message.chaddr);
  assert.equal(o.ciaddr, 0);
  assert.equal(d.commit, false);
  for (const code of [53, 54, 51, 58, 59, 1, 3, 6, 15, 28, 26, 119]) assert.ok(o.options.has(code), `option ${code}`);
  assert.equal(o.options.serverIdentifier, SERVER_IP);
  assert.equal(o.options.getUint32(Option.LeaseTime), LEASE_SECONDS);
  assert.equal(o.options.getUint32(Option.RenewalTime), LEASE_SECONDS / 2);
  assert.equal(o.options.getUint32(Option.RebindingTime), (LEASE_SECONDS * 7) / 8);
  assert.equal(o.options.getIPv4(Option.SubnetMask), ip('255.255.255.0'));
  assert.equal(o.options.getIPv4(Option.BroadcastAddress), ip('10.0.0.255'));
  assert.deepEqual(o.options.getIPv4List(Option.Router), [SERVER_IP]);
  assert.deepEqual(o.options.getIPv4List(Option.DomainNameServer), [SERVER_IP]);
  assert.equal(o.options.getText(Option.DomainName), 'lxc');
  assert.deepEqual(o.options.domainSearch, ['lxc']);
  assert.equal(o.options.getUint16(Option.InterfaceMtu), 1500);
  assert.equal(o.options.has(Option.RapidCommit), false);
  assert.deepEqual(d.destination, { mac: mac(1), ip: o.yiaddr, port: 68, rule: 'yiaddr-unicast' });
  assert.deepEqual(d.event, { type: 'OFFER', mac: mac(1), ip: o.yiaddr, hostname: 'web' });
  // An offer is not a lease.
  assert.equal(fx.table.byMac(mac(1)), undefined);
  // The reply serializes to a valid message.
  assert.equal(parseDhcpMessage(serializeDhcpMessage(o).data).ok, true);
});

test('DISCOVER with the broadcast flag → broadcast destination', (t) => {
  const fx = new Fixture(t);
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(1), { flags: BROADCAST_FLAG })), MessageType.Offer);
  assert.equal(d.reply.flags, BROADCAST_FLAG);
  assert.deepEqual(d.destination, { mac: 'ff:ff:ff:ff:ff:ff', ip: 0xffffffff, port: 68, rule: 'broadcast-flag' });
});

test('relayed DISCOVER → reply to the relay on port 67 at the frame source MAC; foreign relay dropped', (t) => {
  const fx = new Fixture(t, { relays: [ip('10.0.0.2')] });
  const relayMac = '02:aa:00:00:00:02';
  const relay = ip('10.0.0.2');
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(1), { giaddr: relay, frameSrcMac: relayMac, flags: BROADCAST_FLAG })), MessageType.Offer);
  assert.deepEqual(d.destination, { mac: relayMac, ip: relay, port: 67, rule: 'relay' });
  assert.equal(d.reply.giaddr, relay);
  dropOf(fx.handle(request(MessageType.Discover, mac(2), { giaddr: ip('192.168.7.1'), frameSrcMac: relayMac })), 'foreign-relay');
});

test('requested address (option 50) is offered when free', (t) => {
  const fx = new Fixture(t);
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(1), { requested: ip('10.0.0.105') })), MessageType.Offer);
  assert.equal(d.reply.yiaddr, ip('10.0.0.105'));
  // Taken by an offer: another client asking for it gets something else.
  const other = replyOf(fx.handle(request(MessageType.Discover, mac(2), { requested: ip('10.0.0.105') })), MessageType.Offer);
  assert.notEqual(other.reply.yiaddr, ip('10.0.0.105'));
  // Outside the range: ignored, an address from the range is offered.
  const outside = replyOf(fx.handle(request(MessageType.Discover, mac(3), { requested: ip('10.0.0.50') })), MessageType.Offer);
  assert.ok(outside.reply.yiaddr >= FIRST && outside.reply.yiaddr <= LAST);
});

test('a repeated DISCOVER gets the same offer', (t) => {
  const fx = new Fixture(t);
  const a = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  fx.handle(request(MessageType.Discover, mac(2)));
  const b = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  assert.equal(b.reply.yiaddr, a.reply.yiaddr);
});

test('full pool: 11 clients get 11 distinct addresses, the 12th is dropped with pool-full', (t) => {
  const fx = new Fixture(t);
  const seen = new Set<number>();
  for (let n = 1; n <= 11; n++) {
    const d = replyOf(fx.handle(request(MessageType.Discover, mac(n))), MessageType.Offer);
    seen.add(d.reply.yiaddr);
  }
  assert.equal(seen.size, 11);
  dropOf(fx.handle(request(MessageType.Discover, mac(12))), 'pool-full');
  // Held offers expire; then the 12th client is served.
  fx.clock.now += 31_000;
  fx.server.tick();
  replyOf(fx.handle(request(MessageType.Discover, mac(12))), MessageType.Offer);
});

test('cloned identity: two MACs with the same client-id get different addresses', (t) => {
  const fx = new Fixture(t);
  const clientId = Buffer.from([0xff, 1, 2, 3, 4, 0, 1, 0, 1, 9, 9, 9, 9]);
  const a = fx.bindClient(mac(1), { clientId });
  const b = fx.bindClient(mac(2), { clientId });
  assert.notEqual(a, b);
  assert.equal(fx.table.byIp(a)?.mac, mac(1));
  assert.equal(fx.table.byIp(b)?.mac, mac(2));
  assert.equal(fx.table.isActive(fx.table.byIp(a) as NonNullable<ReturnType<LeaseTable['byIp']>>), true);
});

// ---- REQUEST ----

test('REQUEST selecting our server → ACK, committed lease in the table and on disk', (t) => {
  const fx = new Fixture(t);
  const offer = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  const clientId = Buffer.from([1, 2, 0x1a, 0xb0, 0, 0, 1]);
  const d = replyOf(
    fx.handle(request(MessageType.Request, mac(1), { requested: offer.reply.yiaddr, serverId: SERVER_IP, hostname: 'Web_1', clientId })),
    MessageType.Ack,
  );
  assert.equal(d.commit, true);
  assert.equal(d.reply.yiaddr, offer.reply.yiaddr);
  assert.equal(d.reply.options.getUint32(Option.LeaseTime), LEASE_SECONDS);
  assert.deepEqual(d.destination.rule, 'yiaddr-unicast');
  assert.deepEqual(d.reply.options.get(Option.ClientIdentifier), clientId);
  const lease = fx.table.byMac(mac(1));
  assert.ok(lease);
  assert.equal(lease.ip, offer.reply.yiaddr);
  assert.equal(lease.state, 'bound');
  assert.equal(lease.hostname, 'web-1');
  assert.equal(lease.expiresAt, T0 + LEASE_SECONDS * 1000);
  assert.deepEqual(lease.clientId, clientId);
  const onDisk = readLeasesReadOnly(fx.path);
  assert.deepEqual(
    onDisk.map((l) => [l.ip, l.mac, l.state]),
    [[offer.reply.yiaddr, mac(1), 'bound']],
  );
});

test('REQUEST naming another server → drop not-for-us, offer withdrawn, address free again', (t) => {
  const fx = new Fixture(t);
  const offer = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  const offered = offer.reply.yiaddr;
  assert.equal(fx.pool.isFree(offered), false);
  dropOf(fx.handle(request(MessageType.Request, mac(1), { requested: offered, serverId: ip('10.0.0.254') })), 'not-for-us');
  assert.equal(fx.server.offers.forMac(mac(1)), undefined);
  assert.equal(fx.pool.isFree(offered), true);
  assert.equal(fx.table.byMac(mac(1)), undefined);
  // Another client can now have it.
  const other = replyOf(fx.handle(request(MessageType.Discover, mac(2), { requested: offered })), MessageType.Offer);
  assert.equal(other.reply.yiaddr, offered);
});

test('INIT-REBOOT for an address on another subnet → broadcast NAK without lease time', (t) => {
  const fx = new Fixture(t);
  const d = replyOf(fx.handle(request(MessageType.Request, mac(1), { requested: ip('192.168.1.50') })), MessageType.Nak);
  assert.equal(d.reply.yiaddr, 0);
  assert.equal(d.reply.options.getText(Option.Message), '192.168.1.50 is not on this network');
  assert.equal(d.reply.options.has(Option.LeaseTime), false);
  assert.equal(d.reply.options.has(Option.SubnetMask), false);
  assert.equal(d.reply.options.serverIdentifier, SERVER_IP);
  assert.equal(d.commit, false);
  assert.deepEqual(d.destination, { mac: 'ff:ff:ff:ff:ff:ff', ip: 0xffffffff, port: 68, rule: 'nak-broadcast' });
  assert.equal(fx.table.byMac(mac(1)), undefined);
});

test('NAK through a relay goes to the relay with the broadcast bit set (RFC 2131 §4.3.2)', (t) => {
  const fx = new Fixture(t, { relays: [ip('10.0.0.2')] });
  const relayMac = '02:aa:00:00:00:02';
  const relay = ip('10.0.0.2');
  const d = replyOf(fx.handle(request(MessageType.Request, mac(1), { requested: ip('192.168.1.50'), giaddr: relay, frameSrcMac: relayMac })), MessageType.Nak);
  assert.deepEqual(d.destination, { mac: relayMac, ip: relay, port: 67, rule: 'relay' });
  assert.equal(d.reply.giaddr, relay);
  assert.equal(d.reply.flags & BROADCAST_FLAG, BROADCAST_FLAG);
  // An ACK through the relay keeps the client's flags.
  const ack = replyOf(fx.handle(request(MessageType.Discover, mac(2), { giaddr: relay, frameSrcMac: relayMac })), MessageType.Offer);
  assert.equal(ack.reply.flags, 0);
});

test('INIT-REBOOT for an address leased to another MAC → NAK; for its own address → ACK', (t) => {
  const fx = new Fixture(t);
  const a = fx.bindClient(mac(1));
  const nak = replyOf(fx.handle(request(MessageType.Request, mac(2), { requested: a })), MessageType.Nak);
  assert.equal(nak.reply.yiaddr, 0);
  assert.match(nak.reply.options.getText(Option.Message) ?? '', /is leased to another client/);
  assert.equal(fx.table.byIp(a)?.mac, mac(1));
  const ack = replyOf(fx.handle(request(MessageType.Request, mac(1), { requested: a })), MessageType.Ack);
  assert.equal(ack.reply.yiaddr, a);
  assert.equal(ack.event.detail, 'init-reboot');
});

test('RENEWING (ciaddr set) → ACK echoing ciaddr, unicast to ciaddr, lease extended', (t) => {
  const fx = new Fixture(t);
  const a = fx.bindClient(mac(1));
  fx.clock.now += 1_800_000;
  const d = replyOf(fx.handle(request(MessageType.Request, mac(1), { ciaddr: a })), MessageType.Ack);
  assert.equal(d.reply.ciaddr, a);
  assert.equal(d.reply.yiaddr, a);
  assert.equal(d.event.detail, 'renewing');
  assert.deepEqual(d.destination, { mac: mac(1), ip: a, port: 68, rule: 'ciaddr' });
  assert.equal(fx.table.byMac(mac(1))?.expiresAt, fx.clock.now + LEASE_SECONDS * 1000);
  // Another MAC renewing that address is refused.
  replyOf(fx.handle(request(MessageType.Request, mac(2), { ciaddr: a })), MessageType.Nak);
});

test('REQUEST with neither option 50 nor ciaddr is dropped', (t) => {
  const fx = new Fixture(t);
  dropOf(fx.handle(request(MessageType.Request, mac(1))), 'request-without-address');
});

// ---- DECLINE, RELEASE, INFORM ----

test('DECLINE quarantines the address: neither the decliner nor anyone else is offered it', (t) => {
  const fx = new Fixture(t);
  const a = fx.bindClient(mac(1));
  const d = fx.handle(request(MessageType.Decline, mac(1), { requested: a, serverId: SERVER_IP }));
  assert.equal(d.kind, 'silent');
  if (d.kind === 'silent') assert.equal(d.event?.type, 'DECLINE');
  assert.equal(fx.table.byIp(a)?.state, 'declined');
  // The decliner asks again (even naming the address): something else.
  const again = replyOf(fx.handle(request(MessageType.Discover, mac(1), { requested: a })), MessageType.Offer);
  assert.notEqual(again.reply.yiaddr, a);
  const other = replyOf(fx.handle(request(MessageType.Discover, mac(2), { requested: a })), MessageType.Offer);
  assert.notEqual(other.reply.yiaddr, a);
  // And a REQUEST for it is refused.
  replyOf(fx.handle(request(MessageType.Request, mac(3), { requested: a })), MessageType.Nak);
  // A DECLINE of an address that is not the client's is ignored.
  dropOf(fx.handle(request(MessageType.Decline, mac(4), { requested: again.reply.yiaddr })), 'not-for-us');
});

test('RELEASE ends the lease; a RELEASE from another MAC does not', (t) => {
  const fx = new Fixture(t);
  const a = fx.bindClient(mac(1));
  dropOf(fx.handle(request(MessageType.Release, mac(2), { ciaddr: a, serverId: SERVER_IP })), 'not-for-us');
  assert.equal(fx.table.byIp(a)?.state, 'bound');
  const d = fx.handle(request(MessageType.Release, mac(1), { ciaddr: a, serverId: SERVER_IP }));
  assert.equal(d.kind, 'silent');
  assert.equal(fx.table.byIp(a)?.state, 'released');
  assert.equal(fx.pool.isFree(a), true);
});

test('INFORM → ACK with yiaddr 0, ciaddr echoed, configuration but no lease time', (t) => {
  const fx = new Fixture(t);
  const d = replyOf(fx.handle(request(MessageType.Inform, mac(1), { ciaddr: ip('10.0.0.50') })), MessageType.Ack);
  assert.equal(d.reply.yiaddr, 0);
  assert.equal(d.reply.ciaddr, ip('10.0.0.50'));
  for (const code of [51, 58, 59]) assert.equal(d.reply.options.has(code), false, `option ${code}`);
  assert.equal(d.reply.options.getIPv4(Option.SubnetMask), ip('255.255.255.0'));
  assert.equal(d.commit, false);
  assert.deepEqual(d.destination, { mac: mac(1), ip: ip('10.0.0.50'), port: 68, rule: 'ciaddr' });
  assert.equal(fx.table.byMac(mac(1)), undefined);
});

// ---- Rapid commit ----

test('rapid commit: DISCOVER with option 80 → ACK with option 80, lease bound', (t) => {
  const fx = new Fixture(t);
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(1), { rapidCommit: true })), MessageType.Ack);
  assert.equal(d.reply.options.rapidCommit, true);
  assert.equal(d.commit, true);
  assert.equal(fx.table.byMac(mac(1))?.ip, d.reply.yiaddr);
  assert.equal(fx.table.byMac(mac(1))?.state, 'bound');
  assert.equal(d.reply.options.getUint32(Option.LeaseTime), LEASE_SECONDS);
});

test('rapid commit turned off: option 80 gets an ordinary OFFER', (t) => {
  const fx = new Fixture(t, { rapidCommit: false });
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(1), { rapidCommit: true })), MessageType.Offer);
  assert.equal(d.reply.options.has(Option.RapidCommit), false);
  assert.equal(fx.table.byMac(mac(1)), undefined);
});

// ---- Sticky addresses ----

test('a returning client gets its previous address: while bound, after expiry, and after a restart', (t) => {
  const fx = new Fixture(t);
  const a = fx.bindClient(mac(1));
  const b = fx.bindClient(mac(2));
  assert.notEqual(a, b);
  const again = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  assert.equal(again.reply.yiaddr, a);
  fx.handle(request(MessageType.Request, mac(1), { requested: a, serverId: SERVER_IP }));

  // Both leases run out.
  fx.clock.now += LEASE_SECONDS * 1000 + 1;
  const events = fx.server.tick();
  fx.table.commit();
  assert.deepEqual(events.map((e) => e.type).sort(), ['EXPIRE', 'EXPIRE']);
  assert.equal(fx.table.byIp(a)?.state, 'expired');
  // A newcomer gets a never-used address, not the expired ones.
  const c = fx.bindClient(mac(3));
  assert.ok(c !== a && c !== b);
  assert.equal(fx.bindClient(mac(2)), b);

  // Restart: new store handle, table, pool and server.
  fx.restart();
  const afterRestart = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  assert.equal(afterRestart.reply.yiaddr, a);
  const bAfter = replyOf(fx.handle(request(MessageType.Discover, mac(2))), MessageType.Offer);
  assert.equal(bAfter.reply.yiaddr, b);
  const cAfter = replyOf(fx.handle(request(MessageType.Discover, mac(3))), MessageType.Offer);
  assert.equal(cAfter.reply.yiaddr, c);
  // A new client after the restart does not get any of them.
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(4))), MessageType.Offer);
  assert.ok(![a, b, c].includes(d.reply.yiaddr));
});

test('a bound lease survives a restart: RENEWING after restart is ACKed, another MAC is NAKed', (t) => {
  const fx = new Fixture(t);
  const a = fx.bindClient(mac(1));
  fx.restart();
  replyOf(fx.handle(request(MessageType.Request, mac(2), { requested: a })), MessageType.Nak);
  const d = replyOf(fx.handle(request(MessageType.Request, mac(1), { ciaddr: a })), MessageType.Ack);
  assert.equal(d.reply.yiaddr, a);
});

// ---- Reservations ----

test('reservations: the reserved MAC gets its IP whatever it asks for; others never get it', (t) => {
  const reserved = ip('10.0.0.105');
  const fx = new Fixture(t, { reservations: [{ mac: mac(0x50), ip: reserved, name: 'web' }] });
  const offer = replyOf(fx.handle(request(MessageType.Discover, mac(0x50), { requested: ip('10.0.0.103') })), MessageType.Offer);
  assert.equal(offer.reply.yiaddr, reserved);
  // Asking for another address in REQUEST: NAK.
  replyOf(fx.handle(request(MessageType.Request, mac(0x50), { requested: ip('10.0.0.103') })), MessageType.Nak);
  const ack = replyOf(fx.handle(request(MessageType.Request, mac(0x50), { requested: reserved, serverId: SERVER_IP, hostname: 'other' })), MessageType.Ack);
  assert.equal(ack.reply.yiaddr, reserved);
  assert.equal(fx.table.byMac(mac(0x50))?.hostname, 'web');

  // Another MAC requesting the reserved IP: NAK.
  replyOf(fx.handle(request(MessageType.Request, mac(1), { requested: reserved })), MessageType.Nak);
  // Ten other clients share the ten other addresses; none gets the reserved one, the 11th finds the pool full.
  const given = new Set<number>();
  for (let n = 1; n <= 10; n++) {
    const d = replyOf(fx.handle(request(MessageType.Discover, mac(n), { requested: reserved })), MessageType.Offer);
    assert.notEqual(d.reply.yiaddr, reserved);
    given.add(d.reply.yiaddr);
  }
  assert.equal(given.size, 10);
  dropOf(fx.handle(request(MessageType.Discover, mac(11))), 'pool-full');
});

test('reservations: a reserved IP is not offered to others even before its owner shows up', (t) => {
  const reserved = FIRST; // the address the allocator would hand out first
  const fx = new Fixture(t, { reservations: [{ mac: mac(0x50), ip: reserved, name: null }] });
  const d = replyOf(fx.handle(request(MessageType.Discover, mac(1))), MessageType.Offer);
  assert.notEqual(d.reply.yiaddr, reserved);
  // A reservation outside the dynamic range works too.
  fx.server.setReservations([{ mac: mac(0x51), ip: ip('10.0.0.20'), name: 'db' }]);
  const outside = replyOf(fx.handle(request(MessageType.Discover, mac(0x51))), MessageType.Offer);
  assert.equal(outside.reply.yiaddr, ip('10.0.0.20'));
});

// ---- Header checks ----

test('wrong op, htype, hlen and a missing message type are dropped with their reasons', (t) => {
  const fx = new Fixture(t);
  const op = request(MessageType.Discover, mac(1));
  op.message.op = 2;
  dropOf(fx.handle(op), 'wrong-op');
  const htype = request(MessageType.Discover, mac(1));
  htype.message.htype = 6;
  dropOf(fx.handle(htype), 'wrong-htype');
  const hlen = request(MessageType.Discover, mac(1));
  hlen.message.hlen = 8;
  dropOf(fx.handle(hlen), 'wrong-hlen');
  dropOf(fx.handle(request(null, mac(1))), 'no-message-type');
  dropOf(fx.handle(request(MessageType.Offer, mac(1))), 'unexpected-message-type');
  assert.equal(fx.server.offers.size, 0);
});

// ---- Probing ----

function probingFixture(t: TestContext, timeoutMs = 20): { fx: Fixture; prober: AddressProber; probed: number[] } {
  const probed: number[] = [];
  const prober = new AddressProber((a) => probed.push(a), timeoutMs);
  const fx = new Fixture(t, { prober, readyTarget: 0 });
  return { fx, prober, probed };
}

test("probing: a new client's DISCOVER is a Promise resolving to an OFFER of the probed address", async (t) => {
  const { fx, probed } = probingFixture(t);
  const pending = fx.server.handle(request(MessageType.Discover, mac(1)));
  assert.equal(pending.kind, 'pending');
  assert.deepEqual(probed, [FIRST]);
  const d = replyOf(await settled(pending), MessageType.Offer);
  assert.equal(d.reply.yiaddr, FIRST);
});

test('probing: an address that answers ARP is quarantined and a different one is offered', async (t) => {
  const { fx, prober, probed } = probingFixture(t);
  const pending = fx.server.handle(request(MessageType.Discover, mac(1)));
  assert.equal(pending.kind, 'pending');
  prober.onArpFrom(FIRST);
  const d = replyOf(await settled(pending), MessageType.Offer);
  assert.notEqual(d.reply.yiaddr, FIRST);
  assert.deepEqual(probed, [FIRST, d.reply.yiaddr]);
  assert.equal(fx.table.byIp(FIRST)?.state, 'declined');
  assert.deepEqual(
    fx.conflicts.map((c) => c.ip),
    [FIRST],
  );
  // Nobody else is offered the conflicting address either.
  const other = replyOf(await settled(fx.server.handle(request(MessageType.Discover, mac(2), { requested: FIRST }))), MessageType.Offer);
  assert.notEqual(other.reply.yiaddr, FIRST);
});

test("probing: while one client's probe is pending, other clients are answered", async (t) => {
  const { fx, prober, probed } = probingFixture(t);
  const first = fx.server.handle(request(MessageType.Discover, mac(1)));
  assert.equal(first.kind, 'pending');
  let firstSettled = false;
  void settled(first).then(() => (firstSettled = true));
  // The same client again while its probe runs: dropped, not given a second address.
  const repeat = fx.server.handle(request(MessageType.Discover, mac(1)));
  assert.ok(repeat.kind !== 'pending');
  dropOf(repeat, 'probe-pending');
  // Another new client: its own probe of another address, not queued behind the first.
  const second = fx.server.handle(request(MessageType.Discover, mac(2)));
  assert.equal(second.kind, 'pending');
  assert.deepEqual(probed, [FIRST, FIRST + 1]);
  // An INFORM is answered at once.
  const inform = fx.server.handle(request(MessageType.Inform, mac(3), { ciaddr: ip('10.0.0.50') }));
  assert.ok(inform.kind !== 'pending');
  replyOf(inform, MessageType.Ack);
  // The first client's address answers ARP, so its probing starts over on a third address; the second client's
  // probe, started before that, finishes first and its OFFER is out while the first client still waits.
  prober.onArpFrom(FIRST);
  const d2 = replyOf(await settled(second), MessageType.Offer);
  assert.equal(d2.reply.yiaddr, FIRST + 1);
  assert.equal(firstSettled, false);
  const d1 = replyOf(await settled(first), MessageType.Offer);
  assert.equal(d1.reply.yiaddr, FIRST + 2);
  assert.deepEqual(probed, [FIRST, FIRST + 1, FIRST + 2]);
});

test('probing: a returning client with a lease is answered synchronously, without a probe', async (t) => {
  const { fx, probed } = probingFixture(t);
  const offer = replyOf(await settled(fx.server.handle(request(MessageType.Discover, mac(1)))), MessageType.Offer);
  replyOf(await fx.handleAsync(request(MessageType.Request, mac(1), { requested: offer.reply.yiaddr, serverId: SERVER_IP })), MessageType.Ack);
  assert.equal(probed.length, 1);
  const again = fx.server.handle(request(MessageType.Discover, mac(1)));
  assert.ok(again.kind !== 'pending');
  assert.equal(replyOf(again, MessageType.Offer).reply.yiaddr, offer.reply.yiaddr);
  assert.equal(probed.length, 1);
});
