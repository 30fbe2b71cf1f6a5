/** perfdhcp -6 output (Kea 2.2's perfdhcp, as printed here against kea-dhcp6) read into the bench's result shape. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duidLlOf, parsePerfdhcp } from '../../../bench/lib/perfdhcp.ts';

const V6 = `Running: perfdhcp -6 -l eth0 -r 500 -R 1000 -p 3 -W 1000000 -g single
***Rate statistics***
Rate: 374.188 4-way exchanges/second, expected rate: 500

***Statistics for: SOLICIT-ADVERTISE***
sent packets: 1497
received packets: 1497
drops: 0

min delay: 0.103 ms
avg delay: 0.500 ms
max delay: 8.175 ms

***Statistics for: REQUEST-REPLY***
sent packets: 1497
received packets: 1490
drops: 7

min delay: 0.112 ms
avg delay: 0.577 ms
`;

describe('parsePerfdhcp for -6', () => {
  it('reads the SOLICIT-ADVERTISE and REQUEST-REPLY sections', () => {
    const r = parsePerfdhcp(V6, 500, 3, 6);
    assert.deepEqual(
      [r.discoversSent, r.offersReceived, r.requestsSent, r.acksReceived, r.discoverOfferAvgMs, r.requestAckAvgMs],
      [1497, 1497, 1497, 1490, 0.5, 0.577],
    );
    assert.ok(Math.abs(r.completion - 1490 / 1497) < 1e-9);
    assert.ok(Math.abs(r.achievedRate - 1490 / 3) < 1e-9);
  });

  it('refuses -6 output read as -4 (no DISCOVER-OFFER section)', () => {
    assert.throws(() => parsePerfdhcp(V6, 500, 3), /no DISCOVER-OFFER statistics/);
  });

  it('makes a DUID-LL from a MAC', () => {
    assert.equal(duidLlOf('02:aa:00:00:00:01'), '0003000102aa00000001');
  });
});
