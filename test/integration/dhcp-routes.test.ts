/**
 * `--route CIDR,GATEWAY` end to end: a bad route ends the command with one line and exit 2 before anything is set up,
 * and a real ISC dhclient that asks for option 121 gets the exact RFC 3442 encoding (the route and the default route)
 * and installs both in its namespace's routing table.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dhclient } from '../harness/clients.ts';
import { LXC_DHCPD_BIN, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { createTopology, inNamespace, run, type Topology } from '../harness/netns.ts';

let topology: Topology;

before(async () => {
  topology = await createTopology({ containers: 1 });
});

after(async () => {
  await topology?.destroy();
});

test('a bad --route: one line naming the flag, exit 2 (arguments are checked before the bridge is looked at)', async () => {
  const cases: [string, RegExp][] = [
    ['192.0.2.1/24,10.0.0.1', /host bits set/],
    ['192.0.2.0/33,10.0.0.1', /prefix length 33 is not 0-32/],
    ['192.0.2.0/24', /is not CIDR,GATEWAY/],
  ];
  for (const [route, why] of cases) {
    const result = await run(
      inNamespace(topology.hostNs, [
        process.execPath,
        LXC_DHCPD_BIN,
        '--bridge',
        'nosuchbr121',
        '--range',
        '10.0.0.100-200',
        '--no-host-setup',
        '--lease-db',
        join(topology.tmpDir, 'bad.db'),
        '--control-socket',
        '',
        '--route',
        route,
      ]),
      { timeoutMs: 15_000 },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^lxc-dhcpd: --route /);
    assert.match(result.stderr, why);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});

test('a gateway off the bridge subnet is refused at start-up with one line, exit 2', async () => {
  const result = await run(
    inNamespace(topology.hostNs, [
      process.execPath,
      LXC_DHCPD_BIN,
      '--bridge',
      'nosuchbr121',
      '--range',
      '10.0.0.100-200',
      '--address',
      '10.0.0.1/24',
      '--lease-db',
      join(topology.tmpDir, 'bad.db'),
      '--control-socket',
      '',
      '--route',
      '192.0.2.0/24,172.16.0.1',
    ]),
    { timeoutMs: 15_000 },
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^lxc-dhcpd: --route 192\.0\.2\.0\/24,172\.16\.0\.1: the gateway is outside the bridge subnet 10\.0\.0\.0\/24/);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
});

test('dhclient asking for option 121 gets the route and the default route, and installs them', async () => {
  const daemon = await startLxcDhcpd(topology, { extraArgs: ['--route', '192.0.2.0/24,10.0.0.1', '--route', '198.51.100.0/25,10.0.0.1'] });
  const [container] = topology.containers;
  assert.ok(container);
  const client = await dhclient(container, {
    configLines: [
      'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;',
      'option ms-classless-static-routes code 249 = array of unsigned integer 8;',
    ],
    alsoRequest: ['rfc3442-classless-static-routes'],
  });
  try {
    // RFC 3442 §2: 24 192.0.2 → 10.0.0.1, 25 198.51.100.0 → 10.0.0.1, then 0 → 10.0.0.1 (the default route, since a
    // client that takes 121 ignores option 3)
    assert.equal(client.lease.env.new_rfc3442_classless_static_routes, '24 192 0 2 10 0 0 1 25 198 51 100 0 10 0 0 1 0 10 0 0 1');
    assert.equal(client.lease.env.new_ms_classless_static_routes, undefined, 'option 249 sent though not asked for');
    const routes = (await run(inNamespace(container.ns, ['ip', '-4', 'route', 'show']), { timeoutMs: 5000 })).stdout;
    assert.match(routes, /^192\.0\.2\.0\/24 via 10\.0\.0\.1 dev /m, routes);
    assert.match(routes, /^198\.51\.100\.0\/25 via 10\.0\.0\.1 dev /m, routes);
    assert.match(routes, /^default via 10\.0\.0\.1 dev /m, routes);
  } finally {
    await client.stop();
    await daemon.stop();
  }
});
