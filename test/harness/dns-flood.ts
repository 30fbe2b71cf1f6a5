/**
 * A bounded DNS attacker and prober for tests, run inside a test namespace:
 * `ip netns exec NS node --import tsx test/harness/dns-flood.ts 'JSON'` where JSON is one of the Plans below.
 * Modes: "tcp" pipelines queries over a few TCP connections (reading the answers, or never reading them: a client that
 * ignores backpressure), "udp" sends bursts of queries from one socket, "slow-tcp" holds many TCP connections open by
 * sending one byte of a query every few seconds, "probe" sends one query at a time at an interval and records how long
 * each answer took (a victim's view while an attack runs). Every mode stops by itself: by count and by time (a plan's
 * duration is capped at MAX_DURATION_MS). Names may contain "{i}", replaced by the query's index, so that each query is a
 * distinct name (nothing merged or cached on the way). Prints "started" when it begins and one JSON line
 * {"result": {...}} when done.
 */
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';

/** No plan may run longer, whatever the test asks for: a forgotten attack must end by itself. */
const MAX_DURATION_MS = 60_000;
/** Queries in one TCP write when pipelining: big writes keep the sender ahead of the server. */
const TCP_BATCH = 1000;

interface Common {
  host: string;
  port?: number;
  /** "{i}" is replaced by the query index. */
  name: string;
  /** Numeric QTYPE: 1 A, 6 SOA, 12 PTR, 255 ANY... */
  qtype?: number;
  durationMs: number;
}

interface TcpPlan extends Common {
  mode: 'tcp';
  connections: number;
  count: number;
  /** False: never read an answer (the socket is paused from the start). */
  read: boolean;
  /** After sending, how long to keep reading answers. */
  lingerMs?: number;
}

interface UdpPlan extends Common {
  mode: 'udp';
  count: number;
  /** Queries per burst, and the pause between bursts. */
  burst: number;
  intervalMs: number;
  lingerMs?: number;
  edns?: boolean;
}

interface SlowTcpPlan extends Common {
  mode: 'slow-tcp';
  connections: number;
  /** One byte per connection per interval. */
  intervalMs: number;
}

interface ProbePlan extends Common {
  mode: 'probe';
  intervalMs: number;
  timeoutMs: number;
}

type Plan = TcpPlan | UdpPlan | SlowTcpPlan | ProbePlan;

interface Tally {
  sent: number;
  received: number;
  /** Answers with TC set. */
  truncated: number;
  /** Answers without TC that carry at least one answer record. */
  full: number;
  byRcode: Record<string, number>;
}

const newTally = (): Tally => ({ sent: 0, received: 0, truncated: 0, full: 0, byRcode: {} });

function encodeName(name: string): Buffer {
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .filter((l) => l !== '');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** A query with RD set, optionally with an OPT record (EDNS0, 1232 bytes). */
function encodeQuery(id: number, name: string, qtype: number, edns = false): Buffer {
  const qname = encodeName(name);
  const out = Buffer.alloc(12 + qname.length + 4 + (edns ? 11 : 0));
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(0x0100, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(edns ? 1 : 0, 10);
  qname.copy(out, 12);
  let at = 12 + qname.length;
  out.writeUInt16BE(qtype, at);
  out.writeUInt16BE(1, at + 2);
  at += 4;
  if (edns) {
    out.writeUInt8(0, at); // root name
    out.writeUInt16BE(41, at + 1);
    out.writeUInt16BE(1232, at + 3);
  }
  return out;
}

function nameFor(template: string, i: number): string {
  return template.replaceAll('{i}', String(i));
}

function tallyAnswer(tally: Tally, message: Buffer): void {
  if (message.length < 12) return;
  tally.received++;
  const flags = message.readUInt16BE(2);
  const rcode = String(flags & 0xf);
  tally.byRcode[rcode] = (tally.byRcode[rcode] ?? 0) + 1;
  if ((flags & 0x0200) !== 0) tally.truncated++;
  else if (message.readUInt16BE(6) > 0) tally.full++;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function deadlineOf(plan: Common): number {
  return Date.now() + Math.min(Math.max(plan.durationMs, 0), MAX_DURATION_MS);
}

function openTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves when the socket can take more, or at the deadline, or when it closes. */
function drained(socket: Socket, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** Length-prefixed framing of queries [from, to) of the plan, one buffer. */
function tcpBatch(plan: TcpPlan, from: number, to: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = from; i < to; i++) {
    const q = encodeQuery(i, nameFor(plan.name, i), plan.qtype ?? 1);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(q.length, 0);
    parts.push(prefix, q);
  }
  return Buffer.concat(parts);
}

async function runTcp(plan: TcpPlan): Promise<Record<string, unknown>> {
  const port = plan.port ?? 53;
  const tally = newTally();
  const deadline = deadlineOf(plan);
  const sameName = !plan.name.includes('{i}');
  const fixedBatch = sameName ? tcpBatch(plan, 0, TCP_BATCH) : null;
  let connectFailures = 0;
  let closedByPeer = 0;
  const started = Date.now();
  const perConnection = Math.ceil(plan.count / plan.connections);
  const sockets: Socket[] = [];
  const workers = Array.from({ length: plan.connections }, async (_, c) => {
    let socket: Socket;
    try {
      socket = await openTcp(plan.host, port);
    } catch {
      connectFailures++;
      return;
    }
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => closedByPeer++);
    if (!plan.read) socket.pause();
    else {
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let at = 0;
        while (pending.length - at >= 2 && pending.length - at >= 2 + pending.readUInt16BE(at)) {
          const length = pending.readUInt16BE(at);
          tallyAnswer(tally, pending.subarray(at + 2, at + 2 + length));
          at += 2 + length;
        }
        pending = pending.subarray(at);
      });
    }
    const first = c * perConnection;
    const last = Math.min(plan.count, first + perConnection);
    for (let i = first; i < last && Date.now() < deadline && !socket.destroyed; i += TCP_BATCH) {
      const n = Math.min(TCP_BATCH, last - i);
      const batch = fixedBatch !== null && n === TCP_BATCH ? fixedBatch : tcpBatch(plan, i, i + n);
      tally.sent += n;
      if (!socket.write(batch)) await drained(socket, deadline);
    }
  });
  await Promise.all(workers);
  const sendMs = Date.now() - started;
  if (plan.read) {
    const lingerUntil = Math.min(Date.now() + (plan.lingerMs ?? 2000), deadline + (plan.lingerMs ?? 2000));
    while (Date.now() < lingerUntil && tally.received < tally.sent) await sleep(50);
  }
  const openAtEnd = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) s.destroy();
  return { ...tally, connectFailures, closedByPeer, openAtEnd, sendMs };
}

async function runUdp(plan: UdpPlan): Promise<Record<string, unknown>> {
  const port = plan.port ?? 53;
  const tally = newTally();
  const deadline = deadlineOf(plan);
  const socket = createSocket('udp4');
  socket.on('message', (msg: Buffer) => tallyAnswer(tally, msg));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, () => resolve()));
  const started = Date.now();
  for (let i = 0; i < plan.count && Date.now() < deadline; ) {
    const end = Math.min(plan.count, i + plan.burst);
    for (; i < end; i++) {
      socket.send(encodeQuery(i, nameFor(plan.name, i), plan.qtype ?? 1, plan.edns === true), port, plan.host);
      tally.sent++;
    }
    await sleep(plan.intervalMs);
  }
  const sendMs = Date.now() - started;
  const lingerUntil = Date.now() + (plan.lingerMs ?? 1500);
  while (Date.now() < lingerUntil && tally.received < tally.sent) await sleep(50);
  socket.close();
  return { ...tally, sendMs };
}

/** Each connection sends one byte of a valid query per interval: alive to an idle timer, never a whole message. */
async function runSlowTcp(plan: SlowTcpPlan): Promise<Record<string, unknown>> {
  const port = plan.port ?? 53;
  const deadline = deadlineOf(plan);
  const query = encodeQuery(7, plan.name, plan.qtype ?? 1);
  const framed = Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query]);
  const sockets: Socket[] = [];
  let connectFailures = 0;
  let closedByPeer = 0;
  let answered = 0;
  let maxOpen = 0;
  for (let c = 0; c < plan.connections && Date.now() < deadline; c++) {
    try {
      const socket = await openTcp(plan.host, port);
      socket.on('error', () => undefined);
      socket.on('close', () => closedByPeer++);
      socket.on('data', () => answered++);
      socket.write(framed.subarray(0, 1));
      sockets.push(socket);
    } catch {
      connectFailures++;
    }
  }
  const openNow = (): number => sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
  maxOpen = openNow();
  // Byte 0 went out on connect; byte k goes out at interval k, never the last one.
  for (let k = 1; Date.now() < deadline; k++) {
    await sleep(Math.min(plan.intervalMs, Math.max(0, deadline - Date.now())));
    if (Date.now() >= deadline) break;
    const at = Math.min(k, framed.length - 2);
    for (const s of sockets) if (!s.destroyed) s.write(framed.subarray(at, at + 1));
    maxOpen = Math.max(maxOpen, openNow());
  }
  const openAtEnd = openNow();
  for (const s of sockets) s.destroy();
  return { opened: sockets.length, connectFailures, closedByPeer, answered, maxOpen, openAtEnd };
}

interface Sample {
  atMs: number;
  /** null: no answer within timeoutMs. */
  latencyMs: number | null;
  rcode: number | null;
  ancount: number | null;
}

async function runProbe(plan: ProbePlan): Promise<Record<string, unknown>> {
  const port = plan.port ?? 53;
  const deadline = deadlineOf(plan);
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, () => resolve()));
  const started = Date.now();
  const samples: Sample[] = [];
  for (let id = 1; Date.now() < deadline; id++) {
    const sentAt = Date.now();
    const sample = await new Promise<Sample>((resolve) => {
      const onMessage = (msg: Buffer): void => {
        if (msg.length < 12 || msg.readUInt16BE(0) !== (id & 0xffff)) return;
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve({ atMs: sentAt - started, latencyMs: Date.now() - sentAt, rcode: msg.readUInt16BE(2) & 0xf, ancount: msg.readUInt16BE(6) });
      };
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        resolve({ atMs: sentAt - started, latencyMs: null, rcode: null, ancount: null });
      }, plan.timeoutMs);
      socket.on('message', onMessage);
      socket.send(encodeQuery(id, plan.name, plan.qtype ?? 1), port, plan.host);
    });
    samples.push(sample);
    const wait = plan.intervalMs - (Date.now() - sentAt);
    if (wait > 0) await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
  }
  socket.close();
  return { samples };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
process.stdout.write('started\n');
const result =
  plan.mode === 'tcp'
    ? await runTcp(plan)
    : plan.mode === 'udp'
      ? await runUdp(plan)
      : plan.mode === 'slow-tcp'
        ? await runSlowTcp(plan)
        : plan.mode === 'probe'
          ? await runProbe(plan)
          : (() => {
              throw new Error(`unknown mode in ${process.argv[2] ?? ''}`);
            })();
process.stdout.write(`${JSON.stringify({ result })}\n`);
process.exit(0);
