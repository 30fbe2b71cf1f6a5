/**
 * lxc-dhcpd against a hostile container (issue 11, "tests as an attacker", DHCP half). One container on the bridge sends
 * raw frames it forges itself (test/harness/attacker.ts): requests, declines and releases in a neighbour's name (its
 * MAC in chaddr, with and without its MAC as the Ethernet source), forged relays, rapid-commit and offer floods with
 * random MACs, and decline floods. Each test asserts what the fixed daemon promises: the victim keeps its address and
 * its DNS name, the pool keeps serving new containers, the drop is counted under its reason in
 * lxc_dhcpd_dhcp_dropped_total, the daemon answers DNS afterwards and its memory stays under RSS_LIMIT_KB.
 *
 * One topology for the file; every test starts its own daemon on a fresh lease database (so limits and state never
 * leak from one test into the next) and stops it in `finally`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { MessageType } from '../../src/dhcp/constants.ts';
import { leasesAsJson } from '../../src/leases/report.ts';
import { readLeasesReadOnly } from '../../src/leases/store.ts';
import { formatIPv4 } from '../../src/net/address.ts';
import { type Attacker, openAttacker, randomMac } from '../harness/attacker.ts';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import type { LeaseRow } from '../harness/leases-cli.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, processTree, runChecked, type Topology } from '../harness/netns.ts';

const SERVER = '10.0.0.1';
const OBSERVER_IP = '10.0.0.20';
const METRICS_PORT = 9167;
/**
 * Measured here after each flood of 300 frames (daemon run through tsx, no dist/): 106-110 MB RSS. 250 MB leaves room
 * for GC timing and a slower machine, and still catches per-frame state that is not bounded.
 */
const RSS_LIMIT_KB = 250 * 1024;
/** Defaults the fixed daemon promises per bridge port (issue 11, "Fair shares"). */
const PORT_LEASE_BURST = 16;
const PORT_OFFER_LIMIT = 8;
const PORT_DECLINE_BURST = 4;
/** Refill during the test (16/hour and 4/hour over well under a minute) rounds to nothing; one for timing. */
const SLACK = 1;
const FLOOD_SIZE = 300;

let topology: Topology;
let victim: Container;
let attackerPort: Container;
let newcomer: Container;
let observer: Container;
let mover: Container;
let bridgeMac: string;
let sceneNumber = 0;

before(async () => {
  topology = await createTopology({ containers: 5 });
  [victim, attackerPort, newcomer, observer, mover] = topology.containers as [Container, Container, Container, Container, Container];
  await topology.exec(observer.ns, ['ip', 'addr', 'add', `${OBSERVER_IP}/24`, 'dev', 'eth0'], { check: true });
  const link = await topology.exec(topology.hostNs, ['ip', '-j', 'link', 'show', topology.bridge], { check: true });
  bridgeMac = (JSON.parse(link.stdout) as { address: string }[])[0]?.address as string;
  // A bridge whose MAC was never set takes its lowest port's: the moved-container test deletes and adds a port, which
  // could change it under the containers' ARP caches (DNS to 10.0.0.1 then times out). Set, it stays.
  await topology.exec(topology.hostNs, ['ip', 'link', 'set', topology.bridge, 'address', bridgeMac], { check: true });
});

after(async () => {
  await topology?.destroy();
});

// ---------------------------------------------------------------------------------------------
// One daemon with a victim that holds web.lxc

interface Scene {
  daemon: RunningLxcDhcpd;
  attacker: Attacker;
  victimClient: DhcpClient;
  victimIp: string;
  others: DhcpClient[];
}

async function flush(c: Container): Promise<void> {
  await topology.exec(c.ns, ['ip', 'addr', 'flush', 'dev', 'eth0'], { check: true });
}

async function startScene(victimContainer: Container = victim, extraArgs: readonly string[] = []): Promise<Scene> {
  sceneNumber++;
  for (const c of [victim, newcomer, mover]) await flush(c);
  const daemon = await startLxcDhcpd(topology, {
    leaseDb: join(topology.tmpDir, `leases-${sceneNumber}.db`),
    extraArgs: ['--metrics', `127.0.0.1:${METRICS_PORT}`, ...extraArgs],
  });
  const attacker = openAttacker(attackerPort);
  try {
    // Generous: on a loaded 2-core machine a first DISCOVER once went unanswered for 10 s (seen once in ~15 runs).
    const victimClient = await udhcpc(victimContainer, { hostname: 'web', timeoutSec: 20 });
    const scene: Scene = { daemon, attacker, victimClient, victimIp: victimClient.lease.ip, others: [] };
    const row = await waitForLease(scene, victimContainer.mac);
    assert.equal(row.hostname, 'web', 'victim registered web.lxc');
    assert.deepEqual(await digA('web.lxc'), [scene.victimIp], 'web.lxc resolves to the victim before the attack');
    return scene;
  } catch (error) {
    attacker.close();
    await daemon.stop();
    const tail = daemon.log().split('\n').slice(-40).join('\n');
    throw new Error(`setting up the victim failed: ${(error as Error).message}\n--- daemon log (last lines):\n${tail}`);
  }
}

async function stopScene(scene: Scene | undefined): Promise<void> {
  if (!scene) return;
  scene.attacker.close();
  for (const c of [scene.victimClient, ...scene.others]) await c.stop().catch(() => undefined);
  await scene.daemon.stop();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// What the daemon shows: lease table, DNS, metrics, memory

/**
 * The rows `lxc-dhcpd leases --json [--all]` prints (same reader, same filter), read in-process: starting the CLI costs
 * most of a second, and these tests read the table dozens of times.
 */
async function leasesJson(db: string, all = false): Promise<LeaseRow[]> {
  const now = Date.now();
  const leases = readLeasesReadOnly(db);
  return leasesAsJson(all ? leases : leases.filter((l) => l.state === 'bound' && l.expiresAt > now), now);
}

async function leaseRow(scene: Scene, mac: string, all = false): Promise<LeaseRow | undefined> {
  return (await leasesJson(scene.daemon.leaseDb, all)).find((r) => r.mac === mac);
}

/** The lease of `mac` once its binding is committed (the lease CLI reads the database). */
async function waitForLease(scene: Scene, mac: string): Promise<LeaseRow> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const row = await leaseRow(scene, mac);
    if (row) return row;
    if (Date.now() > deadline) assert.fail(`no active lease for ${mac} in the database`);
    await sleep(100);
  }
}

/** A records of `name` as the observer container sees them; throws when the server does not answer. */
async function digA(name: string): Promise<string[]> {
  const r = await topology.exec(observer.ns, ['dig', `@${SERVER}`, '+time=2', '+tries=2', '+short', name, 'A'], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, `dig ${name} got no answer from the daemon: ${r.stdout}${r.stderr}`);
  return r.stdout.split('\n').filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
}

async function dropCount(reason: string): Promise<number> {
  // Node's own fetch, run inside the host namespace where the daemon listens on loopback (no curl dependency).
  const script = `fetch('http://127.0.0.1:${METRICS_PORT}/metrics', { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then((t) => process.stdout.write(t))`;
  const r = await runChecked(['ip', 'netns', 'exec', topology.hostNs, process.execPath, '-e', script], { timeoutMs: 5000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith(`lxc_dhcpd_dhcp_dropped_total{reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Waits (bounded) until the drop counter for `reason` exceeds `baseline` by `by`; returns the count then seen. */
async function waitForDrops(reason: string, baseline: number, by = 1, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = await dropCount(reason);
  while (count < baseline + by && Date.now() < deadline) {
    await sleep(100);
    count = await dropCount(reason);
  }
  return count;
}

function rssKb(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${member}/status`, 'utf8'));
      if (match) total += Number(match[1]);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** The daemon is alive, answers DNS, and its memory is under the bound (reported as a test diagnostic). */
async function assertHealthy(scene: Scene, t: TestContext): Promise<void> {
  assert.equal(scene.daemon.process.exitStatus, null, 'daemon still running');
  await digA('web.lxc');
  const rss = rssKb(scene.daemon.process.pid);
  t.diagnostic(`daemon RSS ${rss} kB (bound ${RSS_LIMIT_KB} kB)`);
  assert.ok(rss > 0 && rss < RSS_LIMIT_KB, `daemon RSS ${rss} kB, bound ${RSS_LIMIT_KB} kB`);
}

// ---------------------------------------------------------------------------------------------
// The victim's side

/** The victim still has its address and web.lxc, the attacker cannot take the name, and a renewal keeps the address. */
async function assertVictimIntact(scene: Scene, label: string): Promise<void> {
  const row = await leaseRow(scene, victim.mac);
  assert.ok(row, `${label}: the victim's lease is no longer active`);
  assert.equal(row.ip, scene.victimIp, `${label}: the victim's address changed`);
  assert.equal(row.hostname, 'web', `${label}: the victim lost its DNS name`);
  assert.deepEqual(await digA('web.lxc'), [scene.victimIp], `${label}: web.lxc no longer resolves to the victim`);

  await attackerClaimsWeb(scene);
  const attackerRow = await leaseRow(scene, attackerPort.mac);
  assert.notEqual(attackerRow?.hostname, 'web', `${label}: the attacker took web.lxc`);
  assert.deepEqual(await digA('web.lxc'), [scene.victimIp], `${label}: web.lxc moved to ${attackerRow?.ip}`);

  const renewed = await scene.victimClient.renew();
  assert.equal(renewed.ip, scene.victimIp, `${label}: the victim's renewal did not get its address back`);
  const afterRenew = await leaseRow(scene, victim.mac);
  assert.equal(afterRenew?.hostname, 'web', `${label}: the victim's name after renewal`);
}

/** The attacker, under its own MAC, asks for the name web with DISCOVER + REQUEST. */
async function attackerClaimsWeb(scene: Scene): Promise<void> {
  const a = scene.attacker;
  const discoverXid = a.send({ type: MessageType.Discover, chaddr: a.mac, hostname: 'web' });
  const offer = await a.replyTo(discoverXid, [MessageType.Offer]);
  if (offer === null) return; // not served at all: it certainly has no name
  const requestXid = a.send({
    type: MessageType.Request,
    chaddr: a.mac,
    hostname: 'web',
    requestedIp: formatIPv4(offer.message.yiaddr),
    serverId: SERVER,
  });
  await a.replyTo(requestXid, [MessageType.Ack, MessageType.Nak]);
  await sleep(100); // the ACK leaves after the commit; give the database reader the same moment
}

// ---------------------------------------------------------------------------------------------
// 1. Impersonation

interface Impersonation {
  name: string;
  reason: string;
  forge: (scene: Scene) => Parameters<Attacker['send']>[0];
}

const IMPERSONATIONS: Impersonation[] = [
  {
    name: "REQUEST in the victim's name (chaddr = victim, attacker's own Ethernet source, no host name)",
    reason: 'chaddr-mismatch',
    forge: (s) => ({ type: MessageType.Request, chaddr: victim.mac, srcMac: attackerPort.mac, requestedIp: s.victimIp, serverId: SERVER }),
  },
  {
    name: "DECLINE of the victim's address (chaddr = victim, attacker's own Ethernet source)",
    reason: 'chaddr-mismatch',
    forge: (s) => ({ type: MessageType.Decline, chaddr: victim.mac, srcMac: attackerPort.mac, requestedIp: s.victimIp, serverId: SERVER }),
  },
  {
    name: "RELEASE of the victim's lease (chaddr = victim, attacker's own Ethernet source)",
    reason: 'chaddr-mismatch',
    forge: (s) => ({ type: MessageType.Release, chaddr: victim.mac, srcMac: attackerPort.mac, ciaddr: s.victimIp, srcIp: s.victimIp, serverId: SERVER }),
  },
  {
    name: "fully spoofed REQUEST (Ethernet source and chaddr = victim) from the attacker's port",
    reason: 'port-mismatch',
    forge: (s) => ({ type: MessageType.Request, chaddr: victim.mac, srcMac: victim.mac, requestedIp: s.victimIp, serverId: SERVER }),
  },
  {
    name: "fully spoofed DECLINE from the attacker's port",
    reason: 'port-mismatch',
    forge: (s) => ({ type: MessageType.Decline, chaddr: victim.mac, srcMac: victim.mac, requestedIp: s.victimIp, serverId: SERVER }),
  },
  {
    name: "fully spoofed RELEASE from the attacker's port",
    reason: 'port-mismatch',
    forge: (s) => ({ type: MessageType.Release, chaddr: victim.mac, srcMac: victim.mac, ciaddr: s.victimIp, srcIp: s.victimIp, serverId: SERVER }),
  },
  {
    name: 'relayed REQUEST for the victim (giaddr 10.0.0.250, no --relay configured)',
    reason: 'relay-not-allowed',
    forge: (s) => ({
      type: MessageType.Request,
      chaddr: victim.mac,
      srcMac: attackerPort.mac,
      giaddr: '10.0.0.250',
      requestedIp: s.victimIp,
      serverId: SERVER,
      dstMac: bridgeMac,
      broadcast: false,
    }),
  },
];

for (const attack of IMPERSONATIONS) {
  test(`impersonation: ${attack.name} → dropped (${attack.reason}); the victim keeps address and name`, async (t) => {
    let scene: Scene | undefined;
    try {
      scene = await startScene();
      const baseline = await dropCount(attack.reason);
      scene.attacker.send(attack.forge(scene));
      const dropped = await waitForDrops(attack.reason, baseline);
      await assertVictimIntact(scene, attack.name);
      assert.ok(dropped > baseline, `lxc_dhcpd_dhcp_dropped_total{reason="${attack.reason}"} stayed at ${baseline}`);
      await scene.daemon.waitForLog(new RegExp(`dropped DHCP packet: ${attack.reason}: `), 2000);
      await assertHealthy(scene, t);
    } finally {
      await stopScene(scene);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// 2. A container moved to another port gets its address back

/** Deletes the container's veth pair and attaches a new one (same MAC inside) to the bridge: a restart on a new port. */
async function movePort(c: Container, newHostIfname: string): Promise<void> {
  const host = (...args: string[]): Promise<unknown> => runChecked(['ip', '-n', topology.hostNs, ...args]);
  await host('link', 'del', c.hostIfname);
  await host('link', 'add', newHostIfname, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.ns);
  await host('link', 'set', newHostIfname, 'master', topology.bridge);
  await host('link', 'set', newHostIfname, 'up');
  await runChecked(['ip', '-n', c.ns, 'link', 'set', 'eth0', 'address', c.mac, 'up']);
}

test('moved container: its MAC from another port is refused while its port exists, served once the old port is gone', async (t) => {
  let scene: Scene | undefined;
  try {
    scene = await startScene(mover);
    const baseline = await dropCount('port-mismatch');
    const xid = scene.attacker.send({ type: MessageType.Discover, chaddr: mover.mac, srcMac: mover.mac });
    const offer = await scene.attacker.replyTo(xid, [MessageType.Offer, MessageType.Ack], 1500);
    assert.ok(offer === null, `the attacker's port was offered ${offer ? formatIPv4(offer.message.yiaddr) : ''}, the lease of ${mover.mac}`);
    assert.ok((await waitForDrops('port-mismatch', baseline)) > baseline, 'port-mismatch counted');

    await scene.victimClient.stop();
    await movePort(mover, 'vethmoved');
    const again = await udhcpc(mover, { hostname: 'web', timeoutSec: 10 });
    scene.others.push(again);
    assert.equal(again.lease.ip, scene.victimIp, 'the moved container got its old address back');
    const row = await waitForLease(scene, mover.mac);
    assert.equal(row.hostname, 'web');
    assert.deepEqual(await digA('web.lxc'), [scene.victimIp]);
    await assertHealthy(scene, t);
  } finally {
    await stopScene(scene);
  }
});

// ---------------------------------------------------------------------------------------------
// 3-5. Starvation from one port

const isAttackerMac = (mac: string): boolean => mac.startsWith('02:ee:');

/** The victim's lease survived and a container that was never seen before is served at once. */
async function assertPoolServes(scene: Scene, what: string): Promise<void> {
  const victimRow = await leaseRow(scene, victim.mac);
  assert.equal(victimRow?.ip, scene.victimIp, `${what}: the victim lost its lease`);
  assert.equal(victimRow?.hostname, 'web', `${what}: the victim lost its name`);
  let fresh: DhcpClient;
  try {
    fresh = await udhcpc(newcomer, { hostname: 'newcomer', timeoutSec: 4 });
  } catch (error) {
    assert.fail(`${what}: a new container got no lease: ${(error as Error).message.split('\n')[0]}`);
  }
  scene.others.push(fresh);
  assert.match(fresh.lease.ip, /^10\.0\.0\.(1\d\d|200)$/);
  const renewed = await scene.victimClient.renew();
  assert.equal(renewed.ip, scene.victimIp, `${what}: the victim's renewal`);
}

test(`starvation by rapid commit: ${FLOOD_SIZE} DISCOVER+rapid-commit with random MACs bind at most ${PORT_LEASE_BURST}`, async (t) => {
  let scene: Scene | undefined;
  try {
    scene = await startScene();
    const baseline = await dropCount('port-lease-limit');
    const sent = await scene.attacker.flood(
      (_) => {
        const mac = randomMac();
        return { type: MessageType.Discover, chaddr: mac, srcMac: mac, rapidCommit: true };
      },
      { count: FLOOD_SIZE, timeLimitMs: 15_000 },
    );
    assert.equal(sent, FLOOD_SIZE);
    await sleep(1000);
    const bound = (await leasesJson(scene.daemon.leaseDb)).filter((r) => isAttackerMac(r.mac));
    t.diagnostic(`${sent} DISCOVER+rapid-commit sent, ${bound.length} bound`);
    assert.ok(
      bound.length <= PORT_LEASE_BURST + SLACK,
      `${bound.length} addresses bound to the attacker's random MACs from one port (limit ${PORT_LEASE_BURST})`,
    );
    await assertPoolServes(scene, 'after the rapid-commit flood');
    assert.ok((await dropCount('port-lease-limit')) > baseline, 'port-lease-limit counted');
    await assertHealthy(scene, t);
  } finally {
    await stopScene(scene);
  }
});

test(`starvation by offers: ${FLOOD_SIZE} DISCOVERs with random MACs get at most ${PORT_OFFER_LIMIT} offers`, async (t) => {
  let scene: Scene | undefined;
  try {
    scene = await startScene();
    const baseline = await dropCount('port-offer-limit');
    const sent = await scene.attacker.flood(
      (_) => {
        const mac = randomMac();
        return { type: MessageType.Discover, chaddr: mac, srcMac: mac };
      },
      { count: FLOOD_SIZE, timeLimitMs: 15_000 },
    );
    await sleep(1000);
    const offered = new Set(
      scene.attacker
        .replies()
        .filter((r) => r.message.options.messageType === MessageType.Offer)
        .map((r) => r.message.yiaddr),
    );
    t.diagnostic(`${sent} DISCOVERs sent, ${offered.size} addresses offered`);
    assert.ok(offered.size <= PORT_OFFER_LIMIT, `${offered.size} addresses offered to the attacker's random MACs from one port (limit ${PORT_OFFER_LIMIT})`);
    await assertPoolServes(scene, 'after the offer flood');
    assert.ok((await dropCount('port-offer-limit')) > baseline, 'port-offer-limit counted');
    await assertHealthy(scene, t);
  } finally {
    await stopScene(scene);
  }
});

/** DISCOVER → OFFER → DECLINE for each MAC `macs(i)` gives; bounded by count, time and consecutive unanswered DISCOVERs. */
async function declineLoop(a: Attacker, macs: (i: number) => string, count: number, deadline: number): Promise<number> {
  let declines = 0;
  let unanswered = 0;
  for (let i = 0; i < count && Date.now() < deadline && unanswered < 3; i++) {
    const mac = macs(i);
    const xid = a.send({ type: MessageType.Discover, chaddr: mac, srcMac: mac });
    const offer = await a.replyTo(xid, [MessageType.Offer], 500);
    if (offer === null) {
      unanswered++;
      continue;
    }
    unanswered = 0;
    a.send({ type: MessageType.Decline, chaddr: mac, srcMac: mac, requestedIp: formatIPv4(offer.message.yiaddr), serverId: SERVER });
    declines++;
  }
  return declines;
}

test(`decline flood: DISCOVER→DECLINE from one port quarantines at most ${PORT_DECLINE_BURST} addresses`, async (t) => {
  let scene: Scene | undefined;
  try {
    scene = await startScene();
    const baseline = await dropCount('port-decline-limit');
    const deadline = Date.now() + 25_000;
    const oneMac = randomMac();
    const declines = (await declineLoop(scene.attacker, () => oneMac, 100, deadline)) + (await declineLoop(scene.attacker, () => randomMac(), 100, deadline));
    assert.ok(declines > PORT_DECLINE_BURST, `the flood sent only ${declines} DECLINEs`);
    await sleep(500);
    const declined = (await leasesJson(scene.daemon.leaseDb, true)).filter((r) => r.state === 'declined');
    t.diagnostic(`${declines} DECLINEs sent, ${declined.length} addresses quarantined`);
    assert.ok(
      declined.length <= PORT_DECLINE_BURST,
      `${declined.length} addresses quarantined by ${declines} DECLINEs from one port (limit ${PORT_DECLINE_BURST})`,
    );
    await assertPoolServes(scene, 'after the decline flood');
    assert.ok((await dropCount('port-decline-limit')) > baseline, 'port-decline-limit counted');
    await assertHealthy(scene, t);
  } finally {
    await stopScene(scene);
  }
});

// ---------------------------------------------------------------------------------------------
// Relays: only configured ones, from their own address, and they are not limited as one port

const RELAY = '10.0.0.250';
const RELAYED_BINDINGS = 30;

test(`a configured relay (--relay ${RELAY}) is served and exempt from port limits; its giaddr from another source is refused`, async (t) => {
  let scene: Scene | undefined;
  try {
    scene = await startScene(victim, ['--relay', RELAY]);
    const a = scene.attacker;
    const relayed = (mac: string, srcIp = RELAY): Parameters<Attacker['send']>[0] => ({
      type: MessageType.Discover,
      chaddr: mac,
      srcMac: a.mac,
      giaddr: RELAY,
      srcIp,
      dstMac: bridgeMac,
      broadcast: false,
    });
    const offer = await a.replyTo(a.send(relayed(randomMac())), [MessageType.Offer], 2000);
    assert.ok(offer !== null, `a DISCOVER relayed by the configured relay ${RELAY} got no OFFER`);

    const baseline = await dropCount('relay-not-allowed');
    const forged = await a.replyTo(a.send(relayed(randomMac(), '10.0.0.251')), [MessageType.Offer], 1000);
    assert.ok(forged === null, `a DISCOVER with giaddr ${RELAY} sent from 10.0.0.251 was answered`);
    assert.ok((await waitForDrops('relay-not-allowed', baseline)) > baseline, 'relay-not-allowed counted');

    await a.flood((_) => ({ ...relayed(randomMac()), rapidCommit: true }), { count: RELAYED_BINDINGS, timeLimitMs: 5000, batch: 10 });
    await sleep(1000);
    const bound = (await leasesJson(scene.daemon.leaseDb)).filter((r) => isAttackerMac(r.mac));
    assert.equal(bound.length, RELAYED_BINDINGS, `bindings through the configured relay (the per-port limit is ${PORT_LEASE_BURST})`);
    await assertHealthy(scene, t);
  } finally {
    await stopScene(scene);
  }
});

// ---------------------------------------------------------------------------------------------
// DECLINE needs an active lease or offer of that MAC

test('DECLINE of an address its MAC no longer holds (after RELEASE) quarantines nothing', async (t) => {
  let scene: Scene | undefined;
  try {
    scene = await startScene();
    const a = scene.attacker;
    const offer = await a.replyTo(a.send({ type: MessageType.Discover, chaddr: a.mac }), [MessageType.Offer]);
    assert.ok(offer !== null, 'the attacker, under its own MAC, got no OFFER');
    const address = formatIPv4(offer.message.yiaddr);
    const ack = await a.replyTo(a.send({ type: MessageType.Request, chaddr: a.mac, requestedIp: address, serverId: SERVER }), [MessageType.Ack]);
    assert.ok(ack !== null, 'the attacker got no ACK for its own address');
    await waitForLease(scene, a.mac);
    a.send({ type: MessageType.Release, chaddr: a.mac, ciaddr: address, srcIp: address, serverId: SERVER });
    const deadline = Date.now() + 3000;
    while ((await leaseRow(scene, a.mac)) !== undefined && Date.now() < deadline) await sleep(100);
    assert.equal(await leaseRow(scene, a.mac), undefined, 'the RELEASE ended the lease');

    a.send({ type: MessageType.Decline, chaddr: a.mac, requestedIp: address, serverId: SERVER });
    await sleep(500);
    // A quarantined address's row no longer names a MAC: look it up by address.
    const row = (await leasesJson(scene.daemon.leaseDb, true)).find((r) => r.ip === address);
    assert.notEqual(row?.state, 'declined', `${address} was quarantined by a DECLINE from a MAC with no lease or offer`);
    await assertHealthy(scene, t);
  } finally {
    await stopScene(scene);
  }
});
