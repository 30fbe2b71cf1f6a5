/** The boot-storm bench's verdicts: the goal line (met, missed by how much, the ratio to dnsmasq) and its table rows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StormResult, stormGoal, stormRows } from '../../../bench/lib/storm.ts';

function result(server: string, leasedMs: number | null, namedMs: number | null, dns = true): StormResult {
  return {
    server,
    clients: 100,
    leased: leasedMs === null ? 60 : 100,
    named: dns ? (namedMs === null ? 60 : 100) : null,
    allLeasedMs: leasedMs,
    allNamedMs: dns ? namedMs : null,
    medianLeasedMs: null,
    firstLeasedMs: null,
    releasedAt: null,
    perClient: [],
    wire: leasedMs === null ? null : { lastFirstDiscoverMs: 500, lastAckMs: leasedMs - 100, acks: 100 },
    serverThread: null,
    error: null,
  };
}

describe('stormGoal', () => {
  it('is met when the later of leased and named is within 2 s and dnsmasq took ten times as long', () => {
    const line = stormGoal([result('lxc-dhcpd', 1400, 1450), result('dnsmasq', 30_000, 30_010)]);
    assert.match(line, /within 2 s: met \(1\.45 s\)/);
    assert.match(line, /20\.7× \(met\)/);
  });

  it('says by how much the 2 s were missed, using the name time when names come later', () => {
    const line = stormGoal([result('lxc-dhcpd', 1900, 2300), result('dnsmasq', 10_000, 10_000)]);
    assert.match(line, /missed by 0\.30 s/);
    assert.match(line, /4\.3× \(missed\)/);
  });

  it('is missed when not every container was leased, and gives a lower bound when dnsmasq never finished', () => {
    assert.match(stormGoal([result('lxc-dhcpd', null, null)]), /missed \(not all leased and named in 60 s\)/);
    assert.match(stormGoal([result('lxc-dhcpd', 1500, 1500), result('dnsmasq', null, null)]), /did not finish in 60 s: ≥ 40\.0×/);
  });
});

describe('stormRows', () => {
  it('compares leased and last-ACK times with every peer and names only with a peer that has DNS', () => {
    const rows = stormRows([result('lxc-dhcpd', 1400, 1450), result('dnsmasq', 30_000, 30_010), result('kea', 1300, null, false)]);
    const named = rows.filter((r) => r.metric.endsWith('all named'));
    assert.deepEqual(
      named.map((r) => [r.peer, r.peerValue]),
      [
        ['dnsmasq', 30_010],
        ['kea (no DNS: n/a)', null],
      ],
    );
    const leased = rows.filter((r) => r.metric.endsWith('all leased'));
    assert.deepEqual(
      leased.map((r) => [r.peer, r.lxc, r.peerValue]),
      [
        ['dnsmasq', 1400, 30_000],
        ['kea', 1400, 1300],
      ],
    );
    assert.equal(rows.filter((r) => r.metric.endsWith('last ACK on the wire')).length, 2);
    assert.ok(rows.every((r) => r.higherIsBetter === false));
  });

  it('has no rows without lxc-dhcpd', () => {
    assert.deepEqual(stormRows([result('dnsmasq', 30_000, 30_000)]), []);
  });
});
