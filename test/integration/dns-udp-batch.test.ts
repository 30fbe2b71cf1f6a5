/**
 * The daemon's batched UDP path end to end: a container sends bursts of queries from one socket, so that wakeups hold
 * many of them at once, mixing what the fast path answers (lease-table names, NXDOMAIN, NODATA, cached forwarded
 * names) with what it leaves to the general path (cache misses going upstream, malformed queries). Every query that
 * deserves an answer gets exactly one, with its own id; the others get none; the daemon keeps running.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { UdpSocket } from '../../src/wire/udp-socket.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const SERVER = 0x0a000001; // 10.0.0.1
const CLIENT_ADDRESS = '10.0.0.50';

type Decoded = dnsPacket.DecodedPacket & { rcode: string };

let topology: Topology;
let daemon: RunningLxcDhcpd;
let upstream: SpawnedProcess;
let container: Container;
let client: UdpSocket;
const answers = new Map<number, Buffer[]>();

function query(id: number, name: string, type: string): Buffer {
  return dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as dnsPacket.Question] });
}

function onlyAnswer(id: number): Decoded {
  const list = answers.get(id) ?? [];
  assert.equal(list.length, 1, `exactly one answer for id ${id}, got ${list.length}`);
  return dnsPacket.decode(list[0] as Buffer) as Decoded;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

before(async () => {
  topology = await createTopology({ containers: 1, wan: true });
  container = topology.containers[0] as Container;
  await topology.exec(container.ns, ['ip', 'addr', 'add', `${CLIENT_ADDRESS}/24`, 'dev', 'eth0'], { check: true });
  upstream = topology.spawn(topology.wanNs as string, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--listen-address=198.51.100.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--local-ttl=300',
    '--address=/example.test/198.51.100.7',
    '--log-queries',
  ]);
  await upstream.waitForOutput(/started, version/, { stream: 'stderr', timeoutMs: 10_000 });
  const resolvConf = join(topology.tmpDir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 198.51.100.1\n');
  daemon = await startLxcDhcpd(topology, { extraArgs: ['--resolv-conf', resolvConf, '--host', '02:1a:b0:00:00:09,10.0.0.9,resv'] });
  client = UdpSocket.open({
    address: CLIENT_ADDRESS,
    port: 0,
    netns: container.ns,
    onDatagrams: (batch) => {
      for (let i = 0; i < batch.count; i++) {
        const start = batch.offset(i);
        const data = Buffer.from(batch.data.subarray(start, start + batch.length(i)));
        if (data.length < 2) continue;
        const id = data.readUInt16BE(0);
        answers.set(id, [...(answers.get(id) ?? []), data]);
      }
    },
  });
});

after(async () => {
  client?.close();
  await topology?.destroy();
});

test('a burst mixing fast-path, upstream and malformed queries: one answer per answerable query, none for the rest', async () => {
  const expected = new Map<number, (r: Decoded) => void>();
  const silent: number[] = [];
  let forwarded = 0;
  for (let id = 1; id <= 250; id++) {
    let datagram: Buffer;
    switch (id % 6) {
      case 0:
        datagram = query(id, id % 12 === 0 ? 'RESV.lxc' : 'resv.lxc', 'A');
        expected.set(id, (r) => {
          assert.equal(r.rcode, 'NOERROR');
          assert.deepEqual(
            r.answers?.map((a) => (a as { data: string }).data),
            ['10.0.0.9'],
          );
        });
        break;
      case 1:
        datagram = query(id, `nx${id}.lxc`, 'A');
        expected.set(id, (r) => {
          assert.equal(r.rcode, 'NXDOMAIN');
          assert.equal(r.authorities?.[0]?.type, 'SOA');
        });
        break;
      case 2:
        datagram = query(id, 'resv.lxc', 'AAAA');
        expected.set(id, (r) => {
          assert.equal(r.rcode, 'NOERROR');
          assert.equal(r.answers?.length, 0);
          assert.equal(r.authorities?.[0]?.type, 'SOA');
        });
        break;
      case 3:
        datagram = query(id, `f${forwarded++ % 10}.example.test`, 'A');
        expected.set(id, (r) => {
          assert.equal(r.rcode, 'NOERROR');
          assert.deepEqual(
            r.answers?.map((a) => (a as { data: string }).data),
            ['198.51.100.7'],
          );
        });
        break;
      case 4: {
        // two questions: the general path answers FORMERR
        datagram = Buffer.from(query(id, 'resv.lxc', 'A'));
        datagram.writeUInt16BE(2, 4);
        expected.set(id, (r) => assert.equal(r.rcode, 'FORMERR'));
        break;
      }
      default: {
        // a response (QR set): never answered
        datagram = Buffer.from(query(id, 'resv.lxc', 'A'));
        datagram[2] = (datagram[2] as number) | 0x80;
        silent.push(id);
      }
    }
    assert.equal(client.send(datagram, SERVER, 53), true);
    if (id % 50 === 0) client.send(Buffer.from([1, 2, 3, 4, 5]), SERVER, 53); // a runt: silence
  }
  await waitUntil(() => [...expected.keys()].every((id) => answers.has(id)), `answers to all ${expected.size} answerable queries`);
  await new Promise((resolve) => setTimeout(resolve, 300)); // anything extra would arrive by now
  for (const [id, check] of expected) check(onlyAnswer(id));
  for (const id of silent) assert.equal(answers.has(id), false, `no answer to the response with id ${id}`);
  assert.equal(answers.size, expected.size, 'nothing else came back');
  assert.equal(daemon.process.exitStatus, null);
});

const upstreamQueries = (): number => (upstream.stderr.match(/query\[A\] f\d\.example\.test/gi) ?? []).length;

test('a second burst of forwarded names is answered from the cache, TTLs counting down from the upstream 300', async () => {
  answers.clear();
  const askedUpstreamBefore = upstreamQueries();
  assert.ok(askedUpstreamBefore >= 10, 'the first burst went upstream');
  const ids: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (let n = 0; n < 10; n++) {
      const id = 1000 + round * 10 + n;
      ids.push(id);
      client.send(query(id, n % 2 === 0 ? `f${n}.example.test` : `F${n}.EXAMPLE.test`, 'A'), SERVER, 53);
    }
  }
  await waitUntil(() => ids.every((id) => answers.has(id)), 'answers to the second burst');
  for (const id of ids) {
    const r = onlyAnswer(id);
    assert.equal(r.rcode, 'NOERROR');
    const ttl = (r.answers?.[0] as { ttl: number } | undefined)?.ttl ?? -1;
    assert.ok(ttl > 200 && ttl <= 300, `TTL ${ttl}`);
  }
  assert.equal(upstreamQueries(), askedUpstreamBefore, 'nothing more was asked upstream');
});
