/** RS → RA pairing of the bench's RA latency figure, on `tcpdump -tt -n` lines as tcpdump 4.99 prints them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pairRaLatencies, summarize } from '../../../bench/lib/ra-latency.ts';

const RS = (t: string): string => `${t} IP6 fe80::1a:b0ff:fe00:1 > ff02::2: ICMP6, router solicitation, length 8`;
const RA_UNICAST = (t: string): string => `${t} IP6 fe80::f857:bcff:fe0c:d89e > fe80::1a:b0ff:fe00:1: ICMP6, router advertisement, length 88`;
const RA_MULTICAST = (t: string): string => `${t} IP6 fe80::f857:bcff:fe0c:d89e > ff02::1: ICMP6, router advertisement, length 88`;
const RA_ELSEWHERE = (t: string): string => `${t} IP6 fe80::f857:bcff:fe0c:d89e > fe80::99: ICMP6, router advertisement, length 88`;

describe('pairRaLatencies', () => {
  it('pairs each RS with the first RA to the solicitor or to all nodes after it', () => {
    const text = [
      RS('1765000000.000000'),
      RA_ELSEWHERE('1765000000.000100'),
      RA_UNICAST('1765000000.000400'),
      RA_MULTICAST('1765000000.000900'), // unsolicited, no RS pending: ignored
      RS('1765000001.000000'),
      RA_MULTICAST('1765000001.002500'),
      RS('1765000002.000000'), // never answered
      'garbage line',
    ].join('\n');
    const { latencies, solicitations } = pairRaLatencies(text);
    assert.equal(solicitations, 3);
    assert.deepEqual(
      latencies.map((ms) => Math.round(ms * 1000) / 1000),
      [0.4, 2.5],
    );
  });

  it('summarizes percentiles and keeps unanswered solicitations visible', () => {
    const s = summarize([3, 1, 2, 10], 5);
    assert.deepEqual(s, { solicitations: 5, answered: 4, p50Ms: 2, p99Ms: 10, maxMs: 10 });
    assert.deepEqual(summarize([], 3), { solicitations: 3, answered: 0, p50Ms: null, p99Ms: null, maxMs: null });
  });
});
