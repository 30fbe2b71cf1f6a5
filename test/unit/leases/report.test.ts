/**
 * `lxc-dhcpd leases` with IPv6 (issue 13 item 5): IPv4 rows exactly as before, then DHCPv6 lease rows (address, MAC,
 * IAID, DUID, name, expiry) and learned SLAAC addresses per container; the text table keeps its IPv4 part unchanged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Lease } from '../../../src/leases/lease.ts';
import type { StoredLease6 } from '../../../src/leases/lease6.ts';
import { formatLeaseTable, leaseRows, leasesAsJson } from '../../../src/leases/report.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { leasesJson } from '../../harness/leases-cli.ts';

const NOW = 1_700_000_000_000;

const V4: Lease = {
  ip: parseIPv4('10.0.0.105') as number,
  mac: '02:1a:b0:00:00:05',
  clientId: Buffer.from([1, 2, 0x1a]),
  hostname: 'web',
  state: 'bound',
  expiresAt: NOW + 3_600_000,
  updatedAt: NOW,
};

function lease6(ip: string, overrides: Partial<StoredLease6> = {}): StoredLease6 {
  return {
    ip,
    mac: '02:1a:b0:00:00:05',
    iaid: 305419896,
    duidHex: '00030001021ab0000005',
    hostname: null,
    state: 'bound',
    expiresAt: NOW + 1_800_000,
    updatedAt: NOW,
    ...overrides,
  };
}

test('IPv4 rows keep their exact shape; active DHCPv6 leases and learned addresses follow, named by the container', () => {
  const rows = leaseRows(
    [V4],
    [
      lease6('fd00::1:5'),
      lease6('fd00::9', { state: 'declined', mac: '' }),
      lease6('fd00::7', { expiresAt: NOW }),
      lease6('fd00::6', { mac: '02:1a:b0:00:00:06', hostname: 'db' }),
    ],
    [
      { mac: '02:1a:b0:00:00:05', ip: 'fd00::5054:ff:fe00:5' },
      { mac: '02:1a:b0:00:00:05', ip: '2001:db8::1234' },
      { mac: '02:1a:b0:00:00:07', ip: 'fd00::77' },
    ],
    NOW,
    new Set(['02:1a:b0:00:00:06']),
  );
  assert.deepEqual(rows[0], leasesAsJson([V4], NOW)[0]);
  assert.deepEqual(
    Object.keys(rows[0] ?? {}),
    ['mac', 'ip', 'hostname', 'state', 'expiresAt', 'expiresInSeconds', 'clientId', 'type'],
    'no field added to IPv4 rows',
  );
  assert.deepEqual(rows.slice(1), [
    {
      mac: '02:1a:b0:00:00:06',
      ip: 'fd00::6',
      hostname: 'db',
      state: 'bound',
      expiresAt: new Date(NOW + 1_800_000).toISOString(),
      expiresInSeconds: 1800,
      clientId: null,
      type: 'static',
      family: 'ipv6',
      source: 'dhcpv6',
      iaid: 305419896,
      duid: '00:03:00:01:02:1a:b0:00:00:05',
    },
    {
      mac: '02:1a:b0:00:00:05',
      ip: 'fd00::1:5',
      hostname: null,
      state: 'bound',
      expiresAt: new Date(NOW + 1_800_000).toISOString(),
      expiresInSeconds: 1800,
      clientId: null,
      type: 'dynamic',
      family: 'ipv6',
      source: 'dhcpv6',
      iaid: 305419896,
      duid: '00:03:00:01:02:1a:b0:00:00:05',
    },
    ...[
      ['02:1a:b0:00:00:05', '2001:db8::1234', 'web'],
      ['02:1a:b0:00:00:05', 'fd00::5054:ff:fe00:5', 'web'],
      ['02:1a:b0:00:00:07', 'fd00::77', null],
    ].map(([mac, ip, hostname]) => ({
      mac,
      ip,
      hostname,
      state: 'learned',
      expiresAt: null,
      expiresInSeconds: null,
      clientId: null,
      type: 'dynamic',
      family: 'ipv6',
      source: 'slaac',
    })),
  ]);
});

test('the table: the IPv4 part unchanged, then the DHCPv6 leases and the learned addresses under their titles', () => {
  const v4Only = formatLeaseTable(leaseRows([V4], [], [], NOW, new Set()));
  assert.equal(
    v4Only,
    'MAC                IP          HOSTNAME  STATE  EXPIRES IN  CLIENT-ID  TYPE\n02:1a:b0:00:00:05  10.0.0.105  web       bound  3600s       01:02:1a   dynamic\n',
  );
  const text = formatLeaseTable(
    leaseRows([V4], [lease6('fd00::5', { hostname: 'web' })], [{ mac: '02:1a:b0:00:00:05', ip: 'fd00::5054:ff:fe00:5' }], NOW, new Set()),
  );
  assert.equal(
    text,
    `${v4Only}
IPv6 leases (DHCPv6)
MAC                IPV6 ADDRESS  HOSTNAME  STATE  EXPIRES IN  IAID       DUID                           TYPE
02:1a:b0:00:00:05  fd00::5       web       bound  1800s       305419896  00:03:00:01:02:1a:b0:00:00:05  dynamic

IPv6 addresses in use (learned from the neighbour table)
MAC                HOSTNAME  IPV6 ADDRESS
02:1a:b0:00:00:05  web       fd00::5054:ff:fe00:5
`,
  );
});

test('a hostile DHCPv6 host name is printed escaped, never raw', () => {
  const text = formatLeaseTable(leaseRows([], [lease6('fd00::5', { hostname: 'a b\n\u001b[31m' })], [], NOW, new Set()));
  assert.ok(text.includes('"a b\\n\\u001b[31m"'), text);
  assert.ok(!text.includes('\u001b'));
});

// The CLI reading the database (no daemon; nothing listens, no network): what `lxc-dhcpd leases` prints after a stop.
test('lxc-dhcpd leases --lease-db shows the IPv6 leases of the database, active ones unless --all', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxo-report6-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'leases.db');
  const store = LeaseStore.open(path);
  const now = Date.now();
  store.stage({ ...V4, expiresAt: now + 3_600_000 });
  store.stage6(lease6('fd00::5', { hostname: 'web', expiresAt: now + 1_800_000 }));
  store.stage6(lease6('fd00::9', { state: 'declined', mac: '', expiresAt: now + 1_800_000 }));
  store.close();
  const rows = await leasesJson(path);
  assert.deepEqual(
    rows.map((r) => [r.ip, r.family ?? 'ipv4', r.iaid, r.duid]),
    [
      ['10.0.0.105', 'ipv4', undefined, undefined],
      ['fd00::5', 'ipv6', 305419896, '00:03:00:01:02:1a:b0:00:00:05'],
    ],
  );
  const all = await leasesJson(path, true);
  assert.deepEqual(
    all.map((r) => [r.ip, r.state]),
    [
      ['10.0.0.105', 'bound'],
      ['fd00::5', 'bound'],
      ['fd00::9', 'declined'],
    ],
  );
});
