// Issue 11: names with a meaning to resolvers (localhost, wpad, isatap, proxy, ns, the domain itself...) are never a
// container's DNS name. A real DhcpServer, set up as the daemon sets it up (unclaimableNames of the domain): the
// client still gets its lease, without the name, and the event says why.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage } from '../../../src/dhcp/message.ts';
import { type Decision, DhcpServer } from '../../../src/dhcp/server.ts';
import { NAME_SERVER_LABEL } from '../../../src/dns/zone.ts';
import { HostNames, RESOLVER_NAMES, unclaimableNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { macToBytes, parseIPv4 } from '../../../src/net/address.ts';

const SERVER_IP = parseIPv4('10.0.0.1') as number;

function serverFor(t: TestContext, domain: string): { server: DhcpServer; names: HostNames } {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-names-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const pool = new AddressPool(parseIPv4('10.0.0.100') as number, parseIPv4('10.0.0.150') as number);
  const leases = new LeaseTable({ store, pool });
  leases.load();
  const names = new HostNames();
  const server = new DhcpServer({
    names,
    unclaimableNames: unclaimableNames(domain),
    network: { serverIp: SERVER_IP, prefixLength: 24, routers: [SERVER_IP], dnsServers: [SERVER_IP], domain, mtu: 1500 },
    leaseSeconds: 3600,
    rapidCommit: true,
    offerHoldMs: 30_000,
    declineQuarantineMs: 600_000,
    leases,
    pool,
    reservations: [],
    prober: null,
    readyTarget: 0,
    readyFreshMs: 60_000,
    now: Date.now,
  });
  return { server, names };
}

/** DISCOVER with rapid commit and a host name: one message binds the lease. */
function bindWithName(server: DhcpServer, mac: string, hostname: string): Extract<Decision, { kind: 'reply' }> {
  const m = emptyMessage();
  m.op = 1;
  m.htype = 1;
  m.hlen = 6;
  m.xid = 0x4242;
  macToBytes(mac).copy(m.chaddr, 0);
  m.options.setMessageType(MessageType.Discover);
  m.options.setText(Option.HostName, hostname);
  m.options.set(Option.RapidCommit, Buffer.alloc(0));
  const d = server.handle({ message: m, frameSrcMac: mac, port: 0, srcIp: 0 });
  assert.ok(d.kind !== 'pending');
  if (d.kind !== 'reply') assert.fail(`expected an ACK, got ${JSON.stringify(d)}`);
  assert.equal(d.reply.options.messageType, MessageType.Ack);
  return d;
}

test('the deny list holds the names the issue names, and the zone name server label', () => {
  for (const name of ['localhost', 'wpad', 'isatap', 'proxy', 'ns']) assert.ok(RESOLVER_NAMES.includes(name), name);
  assert.ok(unclaimableNames('lxc').has(NAME_SERVER_LABEL), 'dns/zone.ts NAME_SERVER_LABEL is on the list');
  assert.ok(unclaimableNames('lxc').has('lxc'), 'the domain apex label');
  assert.ok(unclaimableNames('Containers.Example').has('containers'), 'the first label of a longer domain, lower case');
  assert.ok(!unclaimableNames('lxc').has('web'));
});

test('a client claiming a name with a meaning to resolvers gets its lease but no DNS name, and the log says why', (t) => {
  const { server, names } = serverFor(t, 'lxc');
  const claims = ['localhost', 'WPAD', 'isatap', 'proxy', 'ns', 'lxc', 'localhost.localdomain', 'ip6-localhost', 'broadcasthost'];
  claims.forEach((claim, i) => {
    const mac = `02:1a:b0:00:00:${(i + 1).toString(16).padStart(2, '0')}`;
    const d = bindWithName(server, mac, claim);
    const label = claim.split('.')[0]?.toLowerCase() as string;
    assert.equal(d.event.hostname, null, `${claim}: lease without a name`);
    assert.match(d.event.detail ?? '', new RegExp(`name "${label}" means something to resolvers`), claim);
    assert.equal(names.lookup(label), undefined, `${label}.lxc resolves to nobody`);
  });
  const web = bindWithName(server, '02:1a:b0:00:00:40', 'web');
  assert.equal(web.event.hostname, 'web');
  assert.equal(names.lookup('web')?.ip, web.reply.yiaddr);
});

test('with another domain, its own first label is refused and lxc is an ordinary name', (t) => {
  const { server, names } = serverFor(t, 'corp.example');
  assert.equal(bindWithName(server, '02:1a:b0:00:00:01', 'corp').event.hostname, null);
  assert.equal(names.lookup('corp'), undefined);
  assert.equal(bindWithName(server, '02:1a:b0:00:00:02', 'lxc').event.hostname, 'lxc');
});
