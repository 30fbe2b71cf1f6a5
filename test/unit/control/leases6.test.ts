/**
 * The control socket's round trip with IPv6 (issue 13): `leases` answers the DHCPv6 leases and learned addresses the
 * daemon hands to controlHandlers next to the IPv4 leases, and `reserve` carries an IPv6 address, both through a real
 * socket and controlRequest, as `lxc-dhcpd leases` and `lxc-dhcpd reserve --ip6` use them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Reservation } from '../../../src/config/reservations.ts';
import { controlRequest } from '../../../src/control/client.ts';
import { startControlServer } from '../../../src/control/server.ts';
import type { StoredLease6 } from '../../../src/leases/lease6.ts';
import { unclaimableNames } from '../../../src/leases/names.ts';
import { formatLeaseTable, type LeaseRow } from '../../../src/leases/report.ts';
import { createLogger } from '../../../src/log.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { type ControlDeps, controlHandlers } from '../../../src/operator.ts';

const LEASE6: StoredLease6 = {
  ip: 'fd42::5',
  mac: '02:1a:b0:00:00:05',
  iaid: 7,
  duidHex: '00030001021ab0000005',
  hostname: 'web',
  state: 'bound',
  expiresAt: Date.now() + 600_000,
  updatedAt: Date.now(),
};

test('leases and reserve --ip6 through the control socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxo-control6-'));
  const saved: Reservation[] = [];
  const deps = {
    leases: { active: () => [] },
    book: { fromConfig: [], byName: [], stored: [] },
    reservationContext: { serverIp: parseIPv4('10.0.0.1'), prefixLength: 24, deniedNames: unclaimableNames('lxc'), serverIp6: 'fd42::1' },
    store: { saveReservation: (r: Reservation) => saved.push(r) },
    apply: () => undefined,
    commit: () => undefined,
    log: createLogger('error', () => undefined),
    leases6: () => [LEASE6, { ...LEASE6, ip: 'fd42::6', state: 'declined', mac: '' }],
    learned6: () => [{ mac: '02:1a:b0:00:00:05', ip: 'fd42::5054:ff:fe00:5' }],
  } as unknown as ControlDeps;
  const path = join(dir, 'c.sock');
  const server = await startControlServer(path, controlHandlers(deps));
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const response = await controlRequest(path, { op: 'leases' }, 2000);
  assert.ok(response.ok && 'leases' in response, JSON.stringify(response));
  const rows = response.leases as LeaseRow[];
  assert.deepEqual(
    rows.map((r) => [r.ip, r.source, r.iaid, r.duid, r.hostname]),
    [
      ['fd42::5', 'dhcpv6', 7, '00:03:00:01:02:1a:b0:00:00:05', 'web'],
      ['fd42::5054:ff:fe00:5', 'slaac', undefined, undefined, 'web'],
    ],
  );
  assert.match(formatLeaseTable(rows), /^02:1a:b0:00:00:05 +web +fd42::5054:ff:fe00:5$/m);

  const reserved = await controlRequest(path, { op: 'reserve', mac: '02:1a:b0:00:00:06', ip: '10.0.0.6', ip6: 'FD42::6', name: 'db' });
  assert.deepEqual(reserved, {
    ok: true,
    message: "reserved 10.0.0.6 and fd42::6 for 02:1a:b0:00:00:06 (db); it applies at the client's next DISCOVER (or Solicit)",
  });
  assert.deepEqual(saved, [{ mac: '02:1a:b0:00:00:06', ip: parseIPv4('10.0.0.6'), name: 'db', ip6: 'fd42::6' }]);
  const refused = await controlRequest(path, { op: 'reserve', mac: '02:1a:b0:00:00:07', ip: '10.0.0.7', ip6: 'fd43::7' });
  assert.deepEqual(refused, { ok: false, error: "fd43::7 is outside the bridge's IPv6 /64 (fd42::1/64): reserve an address inside it" });
});
