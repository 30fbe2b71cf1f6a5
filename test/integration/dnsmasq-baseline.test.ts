// Baseline for the checksum checks in our own server's tests: dnsmasq sends its replies through a
// kernel UDP socket, and on a veth the UDP checksum is left for "hardware" that never computes it.
// Real clients accept such frames anyway, so only the capture can tell. If this test fails because
// dnsmasq's replies look fine, the capture-based checksum assertions elsewhere prove nothing.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CapturedPacket, startCapture } from '../harness/capture.ts';
import { udhcpc } from '../harness/clients.ts';
import { startDnsmasq } from '../harness/dnsmasq.ts';
import { createTopology, type Topology } from '../harness/netns.ts';
import { readPcapFile } from '../harness/pcap.ts';

function describePackets(packets: CapturedPacket[]): string {
  return packets.map((packet) => `${packet.dhcpType ?? '?'} ${packet.checksum}: ${packet.summary}`).join('\n');
}

describe('dnsmasq on a veth bridge (no CHECKSUM rule, no ethtool changes)', { timeout: 30_000 }, () => {
  let topology: Topology;

  before(async () => {
    topology = await createTopology({ containers: 1 });
  });

  after(async () => {
    await topology?.destroy();
  });

  it('gives udhcpc a lease, while the capture in the container shows its OFFER and ACK with bad UDP checksums', async () => {
    const container = topology.containers[0]!;
    const dnsmasq = await startDnsmasq(topology);
    const pcapFile = join(topology.tmpDir, 'baseline.pcap');
    const capture = await startCapture(container.ns, container.ifname, undefined, { pcapFile });

    const client = await udhcpc(container, { hostname: 'baseline', timeoutSec: 8 });
    assert.equal(client.lease.serverId, '10.0.0.1');
    assert.equal(client.lease.prefixLength, 24);
    assert.equal(client.lease.router, '10.0.0.1');
    assert.equal(client.lease.domain, 'lxc');
    assert.match(client.lease.ip, /^10\.0\.0\.(1\d\d|200)$/);
    await client.stop();
    const packets = await capture.stop();
    await dnsmasq.stop();
    const seen = describePackets(packets);

    const clientMessages = packets.filter((packet) => packet.source?.port === 68);
    const serverReplies = packets.filter((packet) => packet.source?.port === 67);
    assert.deepEqual(
      serverReplies.map((packet) => packet.dhcpType),
      ['Offer', 'ACK'],
      `dnsmasq's replies on the container's eth0:\n${seen}`,
    );
    for (const reply of serverReplies) {
      assert.equal(reply.source?.address, '10.0.0.1');
      assert.equal(reply.ipChecksum, 'ok');
      assert.equal(reply.checksum, 'bad', `expected dnsmasq's ${reply.dhcpType} to carry an unfinished UDP checksum:\n${seen}`);
    }
    // The client's broadcasts are built by udhcpc itself on a packet socket: the check must also say "ok".
    assert.deepEqual(
      clientMessages.map((packet) => `${packet.dhcpType} ${packet.checksum}`),
      ['Discover ok', 'Request ok'],
      seen,
    );

    const file = await readPcapFile(pcapFile);
    assert.equal(file.frames.length, packets.length, 'tcpdump -w and --print saw the same frames');
  });
});
