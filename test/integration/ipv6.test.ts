/**
 * Issue 13's "Done when" end to end with the real daemon: the default command gives a container a SLAAC address in the
 * bridge's ULA /64 and a default route via the bridge; rdisc6 reads our RA fields (O without --range6, M with it,
 * RDNSS = the bridge's IPv6 address, DNSSL lxc, MTU); dhclient -6 -S gets DNS server and domain; with --range6
 * dhclient -6, dhcpcd and udhcpc6 get addresses from the range; every RA and DHCPv6 reply captured in the containers
 * has a correct checksum; ping -6 reaches a wan namespace through NAT66; `dig AAAA NAME.lxc` over IPv4 and over the
 * bridge's IPv6 address returns the container's real address, `dig -x` its name, a container without IPv6 gets
 * NODATA; at exit a final RA removes the containers' default route. The harness and topology used here are proven
 * against dnsmasq in ipv6-peer-dnsmasq.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Capture, startCapture } from '../harness/capture.ts';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import {
  addresses6,
  addWan6,
  assertChecksumsGood6,
  type Dhcp6Client,
  defaultRoute6,
  dhclient6,
  dhcpcd6,
  enableContainerIpv6,
  enableIpv6,
  inPrefix6,
  ipv6Groups,
  RA_DHCP6_FILTER,
  rdisc6,
  type Slaac,
  udhcpc6,
  udhcpc6Command,
  type Wan6,
  waitForLinkLocal,
  waitForNoDefaultRoute6,
  waitForSlaac,
} from '../harness/clients6.ts';
import { leasesJson } from '../harness/leases-cli.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type Topology } from '../harness/netns.ts';

let topology: Topology;
let daemon: RunningLxcDhcpd | null = null;
let wan6: Wan6;
/** The bridge's global IPv6 address (--ipv6 auto: PREFIX::1) and its /64, read from br0 after start. */
let bridgeV6: string;
let prefix: string;
let bridgeLinkLocal: string;
let slaac: Slaac;
const v4Clients: DhcpClient[] = [];
const v6Clients: Dhcp6Client[] = [];
const captures = new Map<string, Capture>();

function container(index: number): Container {
  return topology.containers[index - 1] as Container;
}

function toBigInt(address: string): bigint {
  return ipv6Groups(address).reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function range6(): { first: string; last: string } {
  const base = bridgeV6.replace(/::1$/, '');
  return { first: `${base}::100`, last: `${base}::1ff` };
}

function inRange6(address: string | null): boolean {
  const { first, last } = range6();
  return address !== null && toBigInt(address) >= toBigInt(first) && toBigInt(address) <= toBigInt(last);
}

async function startDaemon(extraArgs: string[] = []): Promise<RunningLxcDhcpd> {
  daemon = await startLxcDhcpd(topology, { extraArgs: ['--lease-time', '600', ...extraArgs] });
  return daemon;
}

async function stopDaemon(): Promise<void> {
  await daemon?.stop();
  daemon = null;
}

/** `dig +short` from a container; throws when dig itself fails (no answer at all). */
async function dig(ns: string, server: string, ...query: string[]): Promise<string[]> {
  const out = await topology.exec(ns, ['dig', `@${server}`, '+short', '+time=2', '+tries=2', ...query], { check: true, timeoutMs: 15_000 });
  return out.stdout.split('\n').filter((l) => l.trim() !== '');
}

async function waitForDig(ns: string, server: string, want: string, query: string[], timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await dig(ns, server, ...query);
    if (answers.includes(want) || Date.now() > deadline) return answers;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The bridge's global IPv6 addresses, once there is one (the daemon may add it just after it logs that it serves). */
async function bridgeGlobalAddresses(timeoutMs = 5000): Promise<{ local: string; prefixlen: number }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const global = (await addresses6(topology.hostNs, topology.bridge)).filter((a) => a.scope === 'global');
    if (global.length > 0 || Date.now() > deadline) return global;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startCaptures(...containers: Container[]): Promise<void> {
  for (const c of containers) captures.set(c.ns, await startCapture(c.ns, 'eth0', RA_DHCP6_FILTER));
}

async function stopCapture(c: Container): Promise<ReturnType<Capture['packets']>> {
  const capture = captures.get(c.ns);
  assert.ok(capture, `a capture runs in ${c.ns}`);
  captures.delete(c.ns);
  return capture.stop();
}

describe('IPv6 for containers with the real daemon', () => {
  before(async () => {
    topology = await createTopology({ containers: 5, wan: true });
    // a real host has IPv6 on; the topology turns it off everywhere. The wan link gets documentation addresses, and
    // the wan namespace no route back to the containers: only NAT66 lets their packets return.
    await enableIpv6(topology.hostNs);
    wan6 = await addWan6(topology);
    for (const c of [container(1), container(2), container(4)]) await enableContainerIpv6(c, 1);
    await enableContainerIpv6(container(3), 0); // dhcpcd reads the RA itself
    // container 5 keeps IPv6 off: its name must answer AAAA with NODATA
    await startCaptures(container(1), container(2), container(3));
  });

  after(async () => {
    for (const client of [...v4Clients, ...v6Clients]) await client.stop().catch(() => undefined);
    for (const capture of captures.values()) await capture.stop().catch(() => undefined);
    await stopDaemon();
    await topology?.destroy();
  });

  test('the default command puts a ULA /64 on the bridge; the container gets a SLAAC address in it and a default route via the bridge', async () => {
    await startDaemon();
    const global = await bridgeGlobalAddresses();
    assert.equal(global.length, 1, JSON.stringify(global));
    const address = global[0] as { local: string; prefixlen: number };
    bridgeV6 = address.local;
    assert.equal(address.prefixlen, 64);
    assert.ok(inPrefix6(bridgeV6, 'fd00::/8'), `RFC 4193 ULA: ${bridgeV6}`);
    assert.match(bridgeV6, /::1$/, '::1 of the /64 on the bridge');
    prefix = `${bridgeV6.replace(/::1$/, '')}::/64`;
    bridgeLinkLocal = await waitForLinkLocal(topology.hostNs, topology.bridge);

    // the container's own router solicitations went out before the daemon ran: this waits for an unsolicited RA
    slaac = await waitForSlaac(container(1), prefix, { timeoutMs: 30_000 });
    assert.equal(slaac.gateway, bridgeLinkLocal, 'default route via the bridge');
  });

  test('rdisc6 reads our RA without --range6: O flag, not M; prefix on-link and autonomous; RDNSS, DNSSL lxc, MTU', async () => {
    const ra = await rdisc6(container(1));
    assert.equal(ra.managed, false);
    assert.equal(ra.other, true);
    assert.equal(ra.from, bridgeLinkLocal);
    assert.ok(ra.routerLifetime > 0, `router lifetime ${ra.routerLifetime}`);
    assert.deepEqual(
      ra.prefixes.map((p) => [p.prefix, p.onLink, p.autonomous]),
      [[prefix, true, true]],
    );
    assert.ok((ra.prefixes[0]?.validLifetime ?? 0) > 0);
    assert.deepEqual(ra.rdnss, [bridgeV6]);
    assert.deepEqual(ra.dnssl, ['lxc']);
    assert.equal(ra.mtu, 1500);
  });

  test('dhclient -6 -S (stateless) gets DNS server = the bridge address and domain lxc', async () => {
    const info = await dhclient6(container(1), { stateless: true });
    v6Clients.push(info);
    assert.equal(info.lease.address, null);
    assert.deepEqual(info.lease.dns, [bridgeV6]);
    assert.deepEqual(info.lease.domainSearch, ['lxc']);
  });

  test('ping -6 reaches the wan through NAT66 (the wan sees the uplink address as source)', async () => {
    const wanCapture = await startCapture(topology.wanNs as string, 'eth0', 'icmp6');
    const ping = await topology.exec(container(1).ns, ['ping', '-6', '-c', '1', '-W', '3', wan6.wanAddress], { timeoutMs: 10_000 });
    const seen = await wanCapture.stop();
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    const request = seen.find((p) => p.lines[0]?.includes('echo request'));
    assert.ok(request, `echo request seen in the wan:\n${seen.map((p) => p.lines[0]).join('\n')}`);
    assert.ok(request.lines[0]?.includes(`${wan6.hostAddress} > ${wan6.wanAddress}:`), `source rewritten to the uplink: ${request.lines[0]}`);
  });

  test('AAAA NAME.lxc over IPv4 and over the bridge IPv6 address returns the SLAAC address the container uses; dig -x names it', async () => {
    const c1 = container(1);
    v4Clients.push(await udhcpc(c1, { hostname: 'web' }));
    // traffic from the container puts its address in the bridge's neighbour table, where the daemon learns it
    await topology.exec(c1.ns, ['ping', '-6', '-c', '1', '-W', '2', bridgeV6], { check: true, timeoutMs: 10_000 });
    const address = slaac.addresses[0] as string;
    assert.ok((await waitForDig(c1.ns, '10.0.0.1', address, ['web.lxc', 'AAAA'])).includes(address), 'AAAA over IPv4');
    assert.ok((await dig(c1.ns, bridgeV6, 'web.lxc', 'AAAA')).includes(address), 'AAAA over IPv6');
    assert.deepEqual(await dig(c1.ns, '10.0.0.1', '-x', address), ['web.lxc.']);
    assert.deepEqual(await dig(c1.ns, bridgeV6, '-x', address), ['web.lxc.']);
  });

  test('a container without IPv6 keeps its A record and answers AAAA with NODATA', async () => {
    const c5 = container(5);
    const client = await udhcpc(c5, { hostname: 'nov6' });
    v4Clients.push(client);
    assert.deepEqual(await dig(c5.ns, '10.0.0.1', 'nov6.lxc', 'A'), [client.lease.ip]);
    const full = await topology.exec(c5.ns, ['dig', '@10.0.0.1', '+time=2', '+tries=2', 'nov6.lxc', 'AAAA'], { check: true });
    assert.match(full.stdout, /status: NOERROR/);
    assert.match(full.stdout, /ANSWER: 0,/);
    assert.match(full.stdout, /AUTHORITY: 1,/, 'NODATA carries the SOA');
  });

  test('every RA and DHCPv6 reply the container received had a correct checksum', async () => {
    const check = assertChecksumsGood6(await stopCapture(container(1)), { ra: 1, 'dhcp6-server': 1 });
    assert.ok((check.counts.ra ?? 0) >= 1);
  });

  test('at stop the final RA (router lifetime 0) removes the default route at once', async () => {
    const c1 = container(1);
    assert.equal(await defaultRoute6(c1.ns), bridgeLinkLocal);
    const capture = await startCapture(c1.ns, 'eth0', RA_DHCP6_FILTER);
    await stopDaemon();
    await waitForNoDefaultRoute6(c1.ns, 3000);
    const packets = await capture.stop();
    const final = packets.filter((p) => /router advertisement/.test(p.lines[0] ?? '') && /router lifetime 0s/.test(p.lines.join('\n')));
    assert.ok(final.length >= 1, `an RA with router lifetime 0 reached the container:\n${packets.map((p) => p.lines[0]).join('\n')}`);
    assertChecksumsGood6(final, { ra: 1 });
    assert.ok((await defaultRoute6(c1.ns)) === null);
    assert.ok(
      (await addresses6(c1.ns, 'eth0')).some((a) => a.local === slaac.addresses[0]),
      'the address stays (its own lifetimes run on)',
    );
  });

  test('--range6: rdisc6 sees the M flag; dhclient -6, dhcpcd and udhcpc6 get distinct addresses from the range', async (t) => {
    const { first, last } = range6();
    await startDaemon(['--range6', `${first}-${last}`, '--dnsmasq-leasefile', join(topology.tmpDir, 'dnsmasq.leases')]);
    const ra = await rdisc6(container(2));
    assert.equal(ra.managed, true, 'M flag with --range6');
    assert.deepEqual(ra.rdnss, [bridgeV6]);
    assert.deepEqual(ra.dnssl, ['lxc']);

    const viaDhclient = await dhclient6(container(2));
    v6Clients.push(viaDhclient);
    assert.ok(inRange6(viaDhclient.lease.address), `dhclient -6 got ${viaDhclient.lease.address}`);
    assert.deepEqual(viaDhclient.lease.dns, [bridgeV6]);
    const viaDhcpcd = await dhcpcd6(container(3));
    v6Clients.push(viaDhcpcd);
    assert.ok(inRange6(viaDhcpcd.lease.address), `dhcpcd got ${viaDhcpcd.lease.address}`);
    assert.match(viaDhcpcd.routerAdvert.nd1_flags ?? '', /M/);
    const addresses = [viaDhclient.lease.address, viaDhcpcd.lease.address];
    if (udhcpc6Command() === null) {
      t.diagnostic('udhcpc6 not installed (Debian 12 busybox is built without it): set LXC_DHCPD_UDHCPC6=/path/to/busybox');
    } else {
      const viaUdhcpc6 = await udhcpc6(container(4));
      v6Clients.push(viaUdhcpc6);
      assert.ok(inRange6(viaUdhcpc6.lease.address), `udhcpc6 got ${viaUdhcpc6.lease.address}`);
      addresses.push(viaUdhcpc6.lease.address);
    }
    assert.equal(new Set(addresses).size, addresses.length, `distinct: ${addresses.join(' ')}`);
  });

  test('AAAA of a DHCPv6 lease: the name of the container answers with its leased address', async () => {
    const c2 = container(2);
    v4Clients.push(await udhcpc(c2, { hostname: 'db' }));
    const leased = (v6Clients.find((c) => c.kind === 'dhclient6' && c.container === c2) as Dhcp6Client).lease.address as string;
    assert.ok((await waitForDig(c2.ns, '10.0.0.1', leased, ['db.lxc', 'AAAA'])).includes(leased));
    assert.deepEqual(await dig(c2.ns, bridgeV6, '-x', leased), ['db.lxc.']);
  });

  test('the DHCPv6 leases are in the database (lxc-dhcpd leases) and in the dnsmasq-format lease file, with the duid line', async () => {
    const leased = v6Clients.filter((c) => c.lease.address !== null).map((c) => c.lease.address as string);
    assert.ok(leased.length >= 2, `stateful clients: ${leased.join(' ')}`);
    const rows = await leasesJson((daemon as RunningLxcDhcpd).leaseDb);
    const v6Rows = rows.filter((r) => (r as { family?: string }).family === 'ipv6');
    for (const address of leased)
      assert.ok(
        v6Rows.some((r) => r.ip === address),
        `${address} in lxc-dhcpd leases: ${JSON.stringify(v6Rows)}`,
      );
    const deadline = Date.now() + 5000;
    let text = '';
    while (Date.now() < deadline) {
      text = readFileSync(join(topology.tmpDir, 'dnsmasq.leases'), 'utf8');
      if (leased.every((a) => text.includes(` ${a} `))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.match(text, /^duid [0-9a-f]{2}(:[0-9a-f]{2})+$/m, text);
    for (const address of leased) assert.match(text, new RegExp(`^\\d+ \\d+ ${address} `, 'm'), text);
  });

  test('with --range6 too, every RA and DHCPv6 reply (Advertise, Reply) had a correct checksum', async () => {
    assertChecksumsGood6(await stopCapture(container(2)), { ra: 1, 'dhcp6-server': 2 });
    assertChecksumsGood6(await stopCapture(container(3)), { ra: 1, 'dhcp6-server': 2 });
  });
});
