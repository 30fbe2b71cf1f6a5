import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostKey, nameKey } from '../../../src/cluster/records.ts';
import { clusterReport, formatClusterReport } from '../../../src/cluster/report.ts';
import { ClusterView } from '../../../src/cluster/view.ts';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

test('the operator view lists every host with its subnet, address, last seen and names, and the names lost here', () => {
  let now = Date.parse('2026-12-07T10:00:00Z');
  const view = new ClusterView('a', { now: () => now });
  view.apply(hostKey('a'), json({ v: 1, host: 'a', bridge: 'br0', subnet4: '10.0.3.0/24', prefix6: null, address: '192.0.2.11', domain: 'lxc' }));
  view.apply(hostKey('b'), json({ v: 1, host: 'b', bridge: 'br0', subnet4: '10.0.4.0/24', prefix6: 'fd00:0:0:4::/64', address: '192.0.2.12', domain: 'lxc' }));
  view.apply(nameKey('web'), json({ v: 1, name: 'web', host: 'b', kind: 'reservation', a: ['10.0.4.5'], aaaa: ['fd00:0:0:4::5'] }));
  view.setStale(true);
  now += 60_000;
  const report = clusterReport(view, false, new Map([['db', 'b']]));
  assert.deepEqual(report, {
    self: 'a',
    connected: false,
    hosts: [
      { host: 'a', subnet4: '10.0.3.0/24', prefix6: null, address: '192.0.2.11', lastSeen: '2026-12-07T10:00:00.000Z', names: [] },
      {
        host: 'b',
        subnet4: '10.0.4.0/24',
        prefix6: 'fd00:0:0:4::/64',
        address: '192.0.2.12',
        lastSeen: '2026-12-07T10:00:00.000Z',
        names: [{ name: 'web', kind: 'reservation', a: ['10.0.4.5'], aaaa: ['fd00:0:0:4::5'] }],
      },
    ],
    lost: [{ name: 'db', holder: 'b' }],
  });
  const text = formatClusterReport(report);
  assert.match(text, /etcd UNREACHABLE/);
  assert.match(text, /^a \(this host\) {2}subnet 10\.0\.3\.0\/24 {2}address 192\.0\.2\.11/m);
  assert.match(text, /^ {2}web +reservation +10\.0\.4\.5 fd00:0:0:4::5$/m);
  assert.match(text, /name db is given out here but held by b/);
});
