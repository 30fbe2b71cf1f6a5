// Our dnsmasq-format lease file against the one a real dnsmasq writes for the same clients: byte for byte, including
// the order of lines (newest binding first, a renewal keeps its place), the client-id spelling and '*' placeholders.
// The Lease objects are built from what the test itself knows (container MAC, the address the client got, the name
// and client id it was told to send, the time it got its lease); only the expiry second is taken from dnsmasq's file,
// after checking that it is the lease time (1 h) after a moment within the client's DHCP exchange.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsmasqLeaseFile, type DnsmasqLeaseRecord, dnsmasqRecordToLease, formatDnsmasqLeases, parseDnsmasqLeases } from '../../src/leases/dnsmasq-format.ts';
import type { Lease } from '../../src/leases/lease.ts';
import { macToBytes, parseIPv4 } from '../../src/net/address.ts';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { type Dnsmasq, startDnsmasq } from '../harness/dnsmasq.ts';
import { type Container, createTopology, randomPrefix, type Topology } from '../harness/netns.ts';

const LEASE_SECONDS = 3600;

interface Started {
  container: Container;
  client: DhcpClient;
  hostname: string | null;
  clientId: Buffer | null;
  /** Wall clock (ms) just before the client started and just after it reported its lease. */
  before: number;
  after: number;
}

async function waitFor<T>(what: string, read: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function recordFor(records: DnsmasqLeaseRecord[], mac: string): DnsmasqLeaseRecord {
  const found = records.find((r) => r.mac === mac);
  assert.ok(found, `dnsmasq has no lease for ${mac}`);
  return found;
}

/** dnsmasq sets expiry = time(NULL) + lease time when it ACKs, which happened between s.before and s.after. */
function assertExpiryWithin(record: DnsmasqLeaseRecord, fromMs: number, toMs: number): number {
  assert.ok(record.expiresAt !== null, 'finite lease');
  const seconds = record.expiresAt / 1000;
  const low = Math.floor(fromMs / 1000) + LEASE_SECONDS;
  const high = Math.floor(toMs / 1000) + LEASE_SECONDS;
  assert.ok(seconds >= low && seconds <= high, `expiry ${seconds} outside [${low}, ${high}]`);
  return record.expiresAt;
}

function leaseOf(s: Started, expiresAt: number, updatedAt: number): Lease {
  return {
    ip: parseIPv4(s.client.lease.ip) as number,
    mac: s.container.mac,
    clientId: s.clientId,
    hostname: s.hostname,
    state: 'bound',
    expiresAt,
    updatedAt,
  };
}

describe('dnsmasq lease file compatibility (real dnsmasq 2.90, busybox udhcpc)', { timeout: 60_000 }, () => {
  let topology: Topology;
  let dnsmasq: Dnsmasq;
  const started: Started[] = [];

  before(async () => {
    topology = await createTopology({ containers: 3, prefix: randomPrefix('lxo-') });
    dnsmasq = await startDnsmasq(topology, { range: `10.0.0.100,10.0.0.200,${LEASE_SECONDS}` });
  });

  after(async () => {
    for (const s of started) await s.client.stop();
    await dnsmasq?.stop();
    await topology?.destroy();
  });

  it('writes the same bytes as dnsmasq for three clients (name without client id, name with client id, neither name nor -C)', async () => {
    const [c1, c2, c3] = topology.containers as [Container, Container, Container];
    const plans: { container: Container; hostname: string | null; clientIdHex: string | null; args: string[] }[] = [
      { container: c1, hostname: 'alpha', clientIdHex: null, args: ['-C'] }, // -C: no option 61
      { container: c2, hostname: 'beta', clientIdHex: 'ff00000001000100012b3c4d5e', args: [] }, // RFC 4361 style id
      { container: c3, hostname: null, clientIdHex: null, args: [] }, // udhcpc's default id: 01 + MAC
    ];
    for (const plan of plans) {
      const t0 = Date.now();
      const client = await udhcpc(plan.container, {
        ...(plan.hostname !== null ? { hostname: plan.hostname } : {}),
        ...(plan.clientIdHex !== null ? { clientIdHex: plan.clientIdHex } : {}),
        extraArgs: plan.args,
      });
      const clientId =
        plan.clientIdHex !== null
          ? Buffer.from(plan.clientIdHex, 'hex')
          : plan.args.includes('-C')
            ? null
            : Buffer.concat([Buffer.from([1]), macToBytes(plan.container.mac)]);
      started.push({ container: plan.container, client, hostname: plan.hostname, clientId, before: t0, after: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct updatedAt per binding
    }

    const text = await waitFor("three leases in dnsmasq's file", () => {
      const t = dnsmasq.leases();
      return t.split('\n').filter(Boolean).length === 3 ? t : undefined;
    });
    const parsed = parseDnsmasqLeases(text);
    assert.deepEqual(parsed.errors, []);

    const leases = started.map((s) => leaseOf(s, assertExpiryWithin(recordFor(parsed.records, s.container.mac), s.before, s.after), s.after));
    const ours = formatDnsmasqLeases(leases, Date.now());
    assert.equal(ours, text, `ours:\n${ours}\ndnsmasq's:\n${text}`);

    // the same through the writer, to a file of its own
    const dir = mkdtempSync(join(topology.tmpDir, 'ours-'));
    let current = leases;
    const file = new DnsmasqLeaseFile({ path: join(dir, 'lxc-dhcpd.leases'), leases: () => current });
    await file.flush();
    assert.equal(readFileSync(file.path, 'utf8'), text);

    // renewal: dnsmasq moves the expiry but keeps the line where it is; the writer must do the same
    const renewed = started[0]!;
    await new Promise((resolve) => setTimeout(resolve, 1100 - (Date.now() - renewed.after))); // a new expiry second
    const before = Date.now();
    await renewed.client.renew();
    const afterRenew = Date.now();
    const previousExpiry = leases[0]!.expiresAt;
    const renewedText = await waitFor("the renewal in dnsmasq's file", () => {
      const t = dnsmasq.leases();
      const r = parseDnsmasqLeases(t).records.find((x) => x.mac === renewed.container.mac);
      return r !== undefined && r.expiresAt !== previousExpiry ? t : undefined;
    });
    const renewedRecord = recordFor(parseDnsmasqLeases(renewedText).records, renewed.container.mac);
    current = [leaseOf(renewed, assertExpiryWithin(renewedRecord, before, afterRenew), afterRenew), ...leases.slice(1)];
    await file.flush();
    assert.equal(readFileSync(file.path, 'utf8'), renewedText, `dnsmasq after the renewal:\n${renewedText}`);
    assert.equal(renewedText.split('\n')[2]?.split(' ')[1], renewed.container.mac, 'dnsmasq kept the renewed lease last');
    // ordering by updatedAt alone (the stateless formatter) would put the renewed lease on top: the writer's memory matters
    assert.notEqual(formatDnsmasqLeases(current, Date.now()), renewedText);
    await file.close();

    // parse → format round trip of dnsmasq's own file
    const roundTrip = parseDnsmasqLeases(renewedText);
    assert.deepEqual(roundTrip.errors, []);
    assert.equal(
      formatDnsmasqLeases(
        roundTrip.records.map((r) => dnsmasqRecordToLease(r, 0)),
        Date.now(),
      ),
      renewedText,
    );
  });
});
