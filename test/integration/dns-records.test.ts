/**
 * `--dns-record` with the real daemon and dig from a container namespace: A, AAAA, CNAME (followed to a container's
 * name), TXT and SRV answer the same over UDP and TCP, with aa; a container holding a name wins over a static record.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { LXC_DHCPD_BIN, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type Topology } from '../harness/netns.ts';

let topology: Topology;
let c1: Container;
const clients: DhcpClient[] = [];

const RECORDS = [
  'printer,A,10.0.0.9',
  'printer,AAAA,2001:db8::9',
  'www,CNAME,web',
  'printer,TXT,model=laser, duplex',
  '_ipp._tcp,SRV,0 5 631 printer',
  'web,A,10.0.0.250',
];

async function dig(ns: string, ...args: string[]): Promise<string> {
  const r = await topology.exec(ns, ['dig', '@10.0.0.1', '+time=3', '+tries=1', ...args], { timeoutMs: 15_000 });
  return r.stdout;
}

before(async () => {
  topology = await createTopology({ containers: 1 });
  [c1] = topology.containers as [Container];
  await startLxcDhcpd(topology, { extraArgs: [...RECORDS.flatMap((r) => ['--dns-record', r])] });
  clients.push(await udhcpc(c1, { hostname: 'web' }));
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await topology?.destroy();
});

test('A, AAAA, CNAME, TXT and SRV over UDP and TCP from a container', async () => {
  const web = clients[0]?.lease.ip as string;
  const expected: [string, string, string][] = [
    ['printer.lxc', 'A', '10.0.0.9'],
    ['printer.lxc', 'AAAA', '2001:db8::9'],
    ['www.lxc', 'A', `web.lxc.\n${web}`],
    ['www.lxc', 'CNAME', 'web.lxc.'],
    ['printer.lxc', 'TXT', '"model=laser, duplex"'],
    ['_ipp._tcp.lxc', 'SRV', '0 5 631 printer.lxc.'],
    ['web.lxc', 'A', web],
  ];
  for (const transport of ['+notcp', '+tcp']) {
    for (const [name, type, answer] of expected) {
      assert.equal((await dig(c1.ns, transport, '+short', name, type)).trim(), answer, `${name} ${type} ${transport}`);
    }
    const full = await dig(c1.ns, transport, 'printer.lxc', 'MX');
    assert.match(full, /status: NOERROR/);
    assert.match(full, /flags: qr aa/);
    assert.match(full, /ANSWER: 0, AUTHORITY: 1/, 'NODATA with the SOA');
    assert.match(await dig(c1.ns, transport, 'nosuch.lxc'), /status: NXDOMAIN/);
  }
});

test('a bad --dns-record: one line, exit 2', async () => {
  for (const bad of ['printer,A,10.0.0.256', 'ns,A,10.0.0.9', '_x._tcp,SRV,1 2 3', 'a,MX,10 mail', 'a,A,10.0.0.9']) {
    const argv = [process.execPath, LXC_DHCPD_BIN, '--bridge', topology.bridge, '--range', '10.0.0.100-200', '--lease-db', join(topology.tmpDir, 'bad.db')];
    const flags = bad === 'a,A,10.0.0.9' ? ['--dns-record', 'a,CNAME,b', '--dns-record', bad] : ['--dns-record', bad];
    const run = await topology.exec(topology.hostNs, [...argv, '--control-socket', join(topology.tmpDir, 'bad.sock'), ...flags], { timeoutMs: 15_000 });
    assert.equal(run.code, 2, `${bad}: ${run.stderr}`);
    assert.match(run.stderr, /^lxc-dhcpd: --dns-record .+\n$/, bad);
  }
});
