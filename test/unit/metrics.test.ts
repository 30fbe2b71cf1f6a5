import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { Metrics, parseMetricsListen, serveMetrics } from '../../src/metrics.ts';

/** The value of one sample line `name{labels} value` in the text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Metrics', () => {
  it('counts DHCP messages, drops and probes by label', async () => {
    const m = new Metrics({ processMetrics: false });
    m.dhcpReceived('DISCOVER');
    m.dhcpReceived('DISCOVER');
    m.dhcpReceived('REQUEST');
    m.dhcpSent('OFFER');
    m.dhcpDropped('bad-cookie');
    m.dhcpDropped('bad-cookie');
    m.dhcpDropped('bad-cookie');
    m.probe('conflict');
    const text = await m.text();
    assert.equal(sample(text, 'lxc_dhcpd_dhcp_received_total{type="DISCOVER"}'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp_received_total{type="REQUEST"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp_sent_total{type="OFFER"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp_dropped_total{reason="bad-cookie"}'), 3);
    assert.equal(sample(text, 'lxc_dhcpd_probes_total{result="conflict"}'), 1);
    assert.match(text, /^# TYPE lxc_dhcpd_dhcp_received_total counter$/m);
    assert.match(text, /^# HELP lxc_dhcpd_dhcp_dropped_total .+$/m);
  });

  it('counts router advertisements by kind, solicitations, DHCPv6 messages and drops; sets the IPv6 gauges', async () => {
    const m = new Metrics({ processMetrics: false });
    m.raSent('unsolicited');
    m.raSent('solicited');
    m.raSent('solicited');
    m.raSent('final');
    m.raSolicitation();
    m.raSolicitation();
    m.dhcp6Received('SOLICIT');
    m.dhcp6Received('INFORMATION-REQUEST');
    m.dhcp6Received('SOLICIT');
    m.dhcp6Sent('ADVERTISE');
    m.dhcp6Dropped('not-for-us');
    m.dhcp6Dropped('bad label {"x"}'); // not a name we make: counted as other
    m.setLeases6(5);
    m.setLeases6(3);
    m.setLearned6(7);
    const text = await m.text();
    assert.equal(sample(text, 'lxc_dhcpd_ra_sent_total{kind="solicited"}'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_ra_sent_total{kind="unsolicited"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_ra_sent_total{kind="final"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_ra_solicitations_total'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp6_received_total{type="SOLICIT"}'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp6_received_total{type="INFORMATION-REQUEST"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp6_sent_total{type="ADVERTISE"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp6_dropped_total{reason="not-for-us"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp6_dropped_total{reason="other"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_leases6'), 3, 'a gauge: the last value');
    assert.equal(sample(text, 'lxc_dhcpd_learned6_addresses'), 7);
    assert.match(text, /^# TYPE lxc_dhcpd_ra_sent_total counter$/m);
    assert.match(text, /^# TYPE lxc_dhcpd_leases6 gauge$/m);
  });

  it('sets lease gauges per range, last value wins', async () => {
    const m = new Metrics({ processMetrics: false, range: '10.0.0.100-10.0.0.200' });
    m.setLeases(3, 98);
    m.setLeases(4, 97);
    m.setLeases(1, 9, '10.0.1.10-10.0.1.19');
    const text = await m.text();
    assert.match(text, /^# TYPE lxc_dhcpd_leases_active gauge$/m);
    assert.equal(sample(text, 'lxc_dhcpd_leases_active{range="10.0.0.100-10.0.0.200"}'), 4);
    assert.equal(sample(text, 'lxc_dhcpd_leases_free{range="10.0.0.100-10.0.0.200"}'), 97);
    assert.equal(sample(text, 'lxc_dhcpd_leases_active{range="10.0.1.10-10.0.1.19"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_leases_free{range="10.0.1.10-10.0.1.19"}'), 9);
  });

  it('counts DNS queries by rcode and zone, cache hits/misses, upstream errors, and observes latency in buckets', async () => {
    const m = new Metrics({ processMetrics: false });
    m.dnsQuery('NOERROR', 'local');
    m.dnsQuery('NOERROR', 'local');
    m.dnsQuery('NXDOMAIN', 'forwarded');
    m.dnsQuery('REFUSED', 'refused');
    m.dnsQuery('NOERROR', 'cached');
    m.cacheHit();
    m.cacheMiss();
    m.cacheMiss();
    m.upstreamError('timeout');
    m.dnsLimit('rrlSlipped');
    m.dnsLimit('rrlSlipped');
    m.dnsLimit('tcpPerSourceRefused');
    m.upstreamLatency(0.003);
    m.upstreamLatency(0.2);
    m.upstreamLatency(-1); // ignored
    m.upstreamLatency(Number.NaN); // ignored
    const text = await m.text();
    assert.equal(sample(text, 'lxc_dhcpd_dns_queries_total{rcode="NOERROR",zone="local"}'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dns_queries_total{rcode="NXDOMAIN",zone="forwarded"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_queries_total{rcode="REFUSED",zone="refused"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_queries_total{rcode="NOERROR",zone="cached"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_cache_hits_total'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_cache_misses_total'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_errors_total{kind="timeout"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_limit_hits_total{limit="rrlSlipped"}'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dns_limit_hits_total{limit="tcpPerSourceRefused"}'), 1);
    assert.match(text, /^# TYPE lxc_dhcpd_dns_upstream_latency_seconds histogram$/m);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_latency_seconds_count'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_latency_seconds_bucket{le="0.0025"}'), 0);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_latency_seconds_bucket{le="0.005"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_latency_seconds_bucket{le="0.25"}'), 2);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_latency_seconds_bucket{le="+Inf"}'), 2);
    assert.ok(Math.abs((sample(text, 'lxc_dhcpd_dns_upstream_latency_seconds_sum') ?? 0) - 0.203) < 1e-9);
  });

  it('maps label values that are not plain names to "other"', async () => {
    const m = new Metrics({ processMetrics: false });
    m.dhcpDropped('evil"} 1\nlxc_dhcpd_fake 99');
    m.dhcpReceived('');
    m.upstreamError('x'.repeat(65));
    const text = await m.text();
    assert.equal(sample(text, 'lxc_dhcpd_dhcp_dropped_total{reason="other"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dhcp_received_total{type="other"}'), 1);
    assert.equal(sample(text, 'lxc_dhcpd_dns_upstream_errors_total{kind="other"}'), 1);
    assert.doesNotMatch(text, /lxc_dhcpd_fake/);
  });

  it('keeps its own registry: two instances do not share counts and the global registry stays empty of ours', async () => {
    const a = new Metrics({ processMetrics: false });
    const b = new Metrics({ processMetrics: true });
    a.dhcpSent('ACK');
    assert.equal(sample(await a.text(), 'lxc_dhcpd_dhcp_sent_total{type="ACK"}'), 1);
    const bText = await b.text();
    assert.equal(sample(bText, 'lxc_dhcpd_dhcp_sent_total{type="ACK"}'), undefined);
    assert.match(bText, /^process_cpu_seconds_total /m);
    assert.doesNotMatch(await a.text(), /process_cpu_seconds_total/);
    assert.doesNotMatch(await globalRegistry.metrics(), /lxc_dhcpd_/);
  });
});

describe('serveMetrics', () => {
  it('serves /metrics on 127.0.0.1 with the Prometheus content type, 404 elsewhere, 405 for POST', async () => {
    const m = new Metrics({ processMetrics: false });
    const served = await serveMetrics(m, '127.0.0.1', 0);
    try {
      assert.equal(served.address, '127.0.0.1');
      assert.ok(served.port > 0);
      m.dhcpReceived('DISCOVER');
      const ok = await get(served.port, '/metrics');
      assert.equal(ok.status, 200);
      assert.match(ok.type, /^text\/plain; version=0\.0\.4; charset=utf-8$/);
      assert.equal(sample(ok.body, 'lxc_dhcpd_dhcp_received_total{type="DISCOVER"}'), 1);
      m.dhcpReceived('DISCOVER');
      const again = await get(served.port, '/metrics?x=1');
      assert.equal(sample(again.body, 'lxc_dhcpd_dhcp_received_total{type="DISCOVER"}'), 2);
      const head = await get(served.port, '/metrics', 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal((await get(served.port, '/')).status, 404);
      assert.equal((await get(served.port, '/metricsx')).status, 404);
      assert.equal((await get(served.port, '/metrics', 'POST')).status, 405);
    } finally {
      await served.close();
    }
    await assert.rejects(get(served.port, '/metrics'), /ECONNREFUSED/);
  });

  it('rejects with a clear message when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(
        serveMetrics(new Metrics({ processMetrics: false }), '127.0.0.1', port),
        new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('parseMetricsListen', () => {
  it('accepts PORT, IPV4:PORT and [IPV6]:PORT', () => {
    assert.deepEqual(parseMetricsListen('9167'), { ok: true, value: { address: '127.0.0.1', port: 9167 } });
    assert.deepEqual(parseMetricsListen('10.0.0.1:9167'), { ok: true, value: { address: '10.0.0.1', port: 9167 } });
    assert.deepEqual(parseMetricsListen('0.0.0.0:1'), { ok: true, value: { address: '0.0.0.0', port: 1 } });
    assert.deepEqual(parseMetricsListen('[::1]:65535'), { ok: true, value: { address: '::1', port: 65535 } });
  });

  it('gives one line naming the flag for anything else', () => {
    const cases: [string, RegExp][] = [
      ['', /"" is not a port number/],
      ['localhost:9167', /"localhost" is not an IPv4 address/],
      ['10.0.0.1:', /"" is not a port number/],
      ['10.0.0.1:0', /port 0 is not in 1-65535/],
      ['10.0.0.1:70000', /port 70000 is not in 1-65535/],
      ['10.0.0.256:80', /"10\.0\.0\.256" is not an IPv4 address/],
      ['::1:9167', /put an IPv6 address in brackets/],
      ['[10.0.0.1]:80', /"10\.0\.0\.1" is not an IPv6 address/],
      ['10.0.0.1:http', /"http" is not a port number/],
    ];
    for (const [text, why] of cases) {
      const r = parseMetricsListen(text);
      assert.equal(r.ok, false, text);
      if (r.ok) continue;
      assert.match(r.error, why, text);
      assert.match(r.error, /^--metrics ".*": .* \(e\.g\. --metrics 127\.0\.0\.1:9167/);
      assert.doesNotMatch(r.error, /\n/);
    }
  });
});
