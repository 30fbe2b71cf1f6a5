/**
 * A fake upstream DNS server for attack tests, run inside a test namespace (the "wan" side) with
 * `ip netns exec NS node --import tsx test/harness/fake-upstream.ts --address ADDR [--port 53] --mode MODE`.
 * It listens on UDP and TCP. MODE "blackhole" reads every query and never answers: what a dead or very slow upstream
 * looks like to a forwarder. MODE "answer" answers every question with the A record of --a (default 198.51.100.7,
 * TTL --ttl), the question echoed byte for byte (so 0x20 case survives), an OPT record when the query had one, and an
 * RRSIG over the A record when the query set the DO bit, as a signed zone's server would. In both modes each query is
 * reported on stdout as one JSON line {"query": {transport, address, port, id, name, type, edns, do}} (--quiet: none),
 * so a test can check source ports, name case and flags. "listening" is printed once both sockets are bound; on
 * SIGTERM/SIGINT a last line {"summary": {...}} gives the counts before the process exits.
 */
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';

const { values } = parseArgs({
  options: {
    address: { type: 'string' },
    port: { type: 'string', default: '53' },
    mode: { type: 'string', default: 'answer' },
    a: { type: 'string', default: '198.51.100.7' },
    ttl: { type: 'string', default: '300' },
    quiet: { type: 'boolean', default: false },
  },
});
const address = values.address;
const port = Number(values.port);
const mode = values.mode;
if (address === undefined || !Number.isInteger(port) || (mode !== 'blackhole' && mode !== 'answer')) {
  process.stderr.write('usage: fake-upstream.ts --address ADDR [--port N] --mode blackhole|answer [--a IP] [--ttl S] [--quiet]\n');
  process.exit(2);
}
const ttl = Number(values.ttl);
/** A TCP client of ours may pipeline; one connection's unparsed input is capped so a bug cannot eat the machine. */
const MAX_TCP_BUFFER = 1 << 20;

const summary = { udpQueries: 0, tcpQueries: 0, undecodable: 0, answered: 0, tcpConnections: 0 };

interface QueryInfo {
  transport: 'udp' | 'tcp';
  address: string;
  port: number;
  id: number;
  name: string;
  type: string;
  edns: boolean;
  do: boolean;
}

type Opt = { type: 'OPT'; flags?: number; flag_do?: boolean; udpPayloadSize?: number };

function describe(packet: dnsPacket.DecodedPacket, transport: 'udp' | 'tcp', from: string, fromPort: number): QueryInfo | null {
  const question = packet.questions?.[0];
  if (question === undefined) return null;
  const opt = (packet.additionals ?? []).find((r) => r.type === 'OPT') as Opt | undefined;
  return {
    transport,
    address: from,
    port: fromPort,
    id: packet.id ?? 0,
    name: question.name,
    type: question.type,
    edns: opt !== undefined,
    do: opt !== undefined && ((opt.flags ?? 0) & dnsPacket.DNSSEC_OK) !== 0,
  };
}

function labelCount(name: string): number {
  return name
    .replace(/\.$/, '')
    .split('.')
    .filter((l) => l !== '').length;
}

function answerFor(packet: dnsPacket.DecodedPacket, info: QueryInfo): Buffer {
  const question = packet.questions?.[0] as dnsPacket.Question;
  const answers: dnsPacket.Answer[] = [];
  if (info.type === 'A' || info.type === 'ANY') {
    answers.push({ type: 'A', name: question.name, ttl, class: 'IN', data: values.a as string });
    if (info.do) {
      const now = Math.floor(Date.now() / 1000);
      answers.push({
        type: 'RRSIG',
        name: question.name,
        ttl,
        class: 'IN',
        data: {
          typeCovered: 'A',
          algorithm: 13,
          labels: labelCount(question.name),
          originalTTL: ttl,
          expiration: now + 86_400,
          inception: now - 3600,
          keyTag: 4242,
          signersName: question.name.split('.').slice(-2).join('.') || '.',
          signature: Buffer.alloc(64, 0x5a),
        },
      } as unknown as dnsPacket.Answer);
    }
  }
  const additionals = info.edns
    ? [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: 1232,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: info.do ? dnsPacket.DNSSEC_OK : 0,
          options: [],
        } as unknown as dnsPacket.Answer,
      ]
    : [];
  summary.answered++;
  return dnsPacket.encode({
    id: packet.id ?? 0,
    type: 'response',
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | ((packet.flags ?? 0) & dnsPacket.CHECKING_DISABLED),
    questions: [question],
    answers,
    additionals,
  });
}

/** Decodes and reports one query; returns the answer to send, or null (black hole, or nothing to answer). */
function onQuery(raw: Buffer, transport: 'udp' | 'tcp', from: string, fromPort: number): Buffer | null {
  if (transport === 'udp') summary.udpQueries++;
  else summary.tcpQueries++;
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(raw);
  } catch {
    summary.undecodable++;
    return null;
  }
  const info = describe(packet, transport, from, fromPort);
  if (info === null) {
    summary.undecodable++;
    return null;
  }
  if (!values.quiet) process.stdout.write(`${JSON.stringify({ query: info })}\n`);
  return mode === 'answer' ? answerFor(packet, info) : null;
}

const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const answer = onQuery(msg, 'udp', rinfo.address, rinfo.port);
  if (answer !== null) udp.send(answer, rinfo.port, rinfo.address);
});

const connections = new Set<Socket>();
const tcp = createServer((socket) => {
  summary.tcpConnections++;
  connections.add(socket);
  socket.on('close', () => connections.delete(socket));
  socket.on('error', () => socket.destroy());
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (pending.length > MAX_TCP_BUFFER) {
      socket.destroy();
      return;
    }
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      const length = pending.readUInt16BE(0);
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      const answer = onQuery(Buffer.from(message), 'tcp', socket.remoteAddress ?? '', socket.remotePort ?? 0);
      if (answer !== null) {
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(answer.length, 0);
        socket.write(Buffer.concat([prefix, answer]));
      }
    }
  });
});

await new Promise<void>((resolve, reject) => {
  udp.once('error', reject);
  udp.bind(port, address, () => resolve());
});
await new Promise<void>((resolve, reject) => {
  tcp.once('error', reject);
  tcp.listen({ host: address, port }, () => resolve());
});
process.stdout.write(`listening ${mode} on ${address} port ${port}\n`);

function finish(): void {
  process.stdout.write(`${JSON.stringify({ summary })}\n`);
  for (const c of connections) c.destroy();
  udp.close();
  tcp.close();
  process.exit(0);
}
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
