/** The queue of pre-probed addresses grows with the rate of new clients, so probing does not throttle them. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MessageType } from '../../../src/dhcp/constants.ts';
import { emptyMessage } from '../../../src/dhcp/message.ts';
import { AddressProber } from '../../../src/dhcp/probe.ts';
import { type Decision, DhcpServer } from '../../../src/dhcp/server.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { macToBytes, parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string): number => parseIPv4(t) as number;

function clientMac(n: number): string {
  return `02:77:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

function discover(n: number): ReturnType<typeof emptyMessage> {
  const m = emptyMessage();
  m.op = 1;
  m.xid = n;
  macToBytes(clientMac(n)).copy(m.chaddr);
  m.options.setMessageType(MessageType.Discover);
  return m;
}

test('a burst of new clients grows the ready queue beyond its minimum; later clients are offered without waiting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ready-'));
  const store = LeaseStore.open(join(dir, 'l.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const pool = new AddressPool(ip('10.0.1.0'), ip('10.0.255.254'));
  const leases = new LeaseTable({ store, pool });
  leases.load();
  const probed: number[] = [];
  const prober = new AddressProber((a) => probed.push(a), 30);
  t.after(() => prober.close());
  let now = 1_700_000_000_000;
  const server = new DhcpServer({
    names: new HostNames(),
    network: { serverIp: ip('10.0.0.1'), prefixLength: 16, routers: [], dnsServers: [], domain: 'lxc', mtu: 1500 },
    leaseSeconds: 3600,
    rapidCommit: false,
    offerHoldMs: 60_000,
    declineQuarantineMs: 600_000,
    leases,
    pool,
    reservations: [],
    prober,
    readyTarget: 4,
    probeTimeoutMs: 30,
    readyFreshMs: 60_000,
    now: () => now,
  });
  server.tick();
  assert.equal(probed.length, 4, 'the minimum queue is probed at start');
  await new Promise((r) => setTimeout(r, 50));

  // 300 new clients within one second: demand 300/s × 3 × 30 ms = 27 addresses must be kept ready.
  const pending: Promise<Decision>[] = [];
  let immediate = 0;
  for (let n = 1; n <= 300; n++) {
    now += 3;
    const d = server.handle({ message: discover(n), frameSrcMac: clientMac(n), port: 0, srcIp: 0 });
    if (d.kind === 'pending') pending.push(d.settled);
    else immediate++;
    if (n % 10 === 0) await new Promise((r) => setTimeout(r, 40)); // let the background probes finish
  }
  const late = await Promise.all(pending);
  assert.ok(
    late.every((d) => d.kind === 'reply'),
    'clients that had to wait still got offers',
  );
  assert.ok(probed.length >= 300 + 10, `the queue grew ahead of demand (${probed.length} probes for 300 clients)`);
  assert.ok(immediate >= 200, `most new clients were offered at once (${immediate} of 300)`);
});
