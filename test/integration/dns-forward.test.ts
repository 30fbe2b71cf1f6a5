// The forwarder against a real resolver: dnsmasq in a network namespace of our own (lxf-*), with
// the forwarder running in a node process started in the same namespace. resolv.conf (a file in
// the topology's scratch directory) lists an address we claim as our own (ignored), a dead
// address (times out) and dnsmasq.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTopology, randomPrefix, type Topology } from '../harness/netns.ts';

const FORWARD_MODULE = resolve('src/dns/forward/index.ts');

/** Runs in the namespace: resolves a few names through the forwarder and prints one JSON line. */
const DRIVER = `
import { DnsCache, Forwarder, ResolvConfUpstreams, formatUpstream } from ${JSON.stringify(FORWARD_MODULE)};
const [resolvConf] = process.argv.slice(1);
const upstreams = new ResolvConfUpstreams({ path: resolvConf, ignore: ['10.0.0.53'] });
const forwarder = new Forwarder({ upstreams, cache: new DnsCache(), timeoutMs: 500 });
const summary = (result) => result.ok
  ? { ok: true, source: result.source, upstream: result.upstream ? formatUpstream(result.upstream) : null, rcode: result.answer.rcode,
      answers: result.answer.answers.map((r) => [r.name, r.type, r.data, r.ttl]) }
  : { ok: false, failure: result.failure, attempts: result.attempts.map((a) => [formatUpstream(a.upstream), a.outcome]) };
const out = { upstreams: upstreams.current().map(formatUpstream) };
out.first = summary(await forwarder.resolve({ name: 'www.example.test', type: 'A' }));
out.second = summary(await forwarder.resolve({ name: 'WWW.example.test', type: 'A' }));
out.host = summary(await forwarder.resolve({ name: 'db.lxf.test', type: 'A' }));
out.stats = forwarder.stats;
out.cache = forwarder.cache.stats;
await forwarder.close();
console.log(JSON.stringify(out));
`;

describe('forwarding to dnsmasq in a network namespace', { timeout: 60_000 }, () => {
  let topology: Topology;

  before(async () => {
    topology = await createTopology({ prefix: randomPrefix('lxf-'), containers: 0 });
  });

  after(async () => {
    await topology?.destroy();
  });

  it('skips the ignored and the dead upstream, relays dnsmasq answers and caches them', async () => {
    const dnsmasq = topology.spawn(topology.hostNs, [
      'dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=53',
      '--listen-address=10.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--log-queries',
      `--pid-file=${join(topology.tmpDir, 'dnsmasq.pid')}`,
      '--local-ttl=300',
      '--address=/example.test/198.51.100.7',
      '--host-record=db.lxf.test,198.51.100.20',
    ]);
    await dnsmasq.waitForOutput(/started, version/, { timeoutMs: 5000 });

    const resolvConf = join(topology.tmpDir, 'resolv.conf');
    writeFileSync(resolvConf, '# test\nnameserver 10.0.0.53\nnameserver 10.0.0.9\nnameserver 10.0.0.1\n');
    const run = await topology.exec(topology.hostNs, ['node', '--import', 'tsx', '--input-type=module', '-e', DRIVER, resolvConf], { timeoutMs: 30_000 });
    assert.equal(run.code, 0, run.stderr);
    const lastLine = run.stdout.trim().split('\n').at(-1) ?? '';
    const out = JSON.parse(lastLine) as Record<string, unknown>;

    assert.deepEqual(out.upstreams, ['10.0.0.9:53', '10.0.0.1:53']);
    assert.deepEqual(out.first, {
      ok: true,
      source: 'upstream',
      upstream: '10.0.0.1:53',
      rcode: 'NOERROR',
      answers: [['www.example.test', 'A', '198.51.100.7', 300]],
    });
    assert.deepEqual(out.host, {
      ok: true,
      source: 'upstream',
      upstream: '10.0.0.1:53',
      rcode: 'NOERROR',
      answers: [['db.lxf.test', 'A', '198.51.100.20', 300]],
    });
    const second = out.second as { source: string; answers: [string, string, string, number][] };
    assert.equal(second.source, 'cache');
    assert.equal(second.answers[0]?.[2], '198.51.100.7');
    assert.ok((second.answers[0]?.[3] ?? -1) <= 300 && (second.answers[0]?.[3] ?? -1) >= 290);
    const stats = out.stats as Record<string, number>;
    assert.equal(stats.queriesSent, 3, 'www to the dead upstream and to dnsmasq, db to dnsmasq only');
    assert.equal(stats.timeouts, 1, 'after one timeout the dead upstream is tried last');
    assert.deepEqual(out.cache, { hits: 1, misses: 2, stored: 2, uncacheable: 0, evicted: 0, expired: 0, tooLarge: 0 });
    assert.equal(stats.mismatchedDropped, 0);
    // The name reaches dnsmasq in 0x20 random case; the answers above came back in the asked spelling.
    assert.match(dnsmasq.stdout + dnsmasq.stderr, /query\[A\] www\.example\.test from 10\.0\.0\.1/i);
  });
});
