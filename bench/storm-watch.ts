// The boot-storm bench's clock, run inside the load container (bench/lib/storm.ts starts it). It waits until every
// client's udhcpc is parked in its deconfig hook (a file in DIR/ready each), releases them all at once (one newline
// each into the FIFO they read), then records when each client bound its address (the hook writes the wall-clock time
// into DIR/bound/NAME) and, with a DNS server, when NAME.DOMAIN first resolves to that address (its own UDP queries
// from here, sent as soon as the client bound, repeated every RETRY_MS until answered). It prints one JSON line.
// Usage: node --import tsx bench/storm-watch.ts DIR COUNT DNS_SERVER|- DOMAIN TIMEOUT_MS
import { createSocket } from 'node:dgram';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';

/** How often the ready and bound directories are read: a tenth of the 2 s goal's resolution is plenty. */
const POLL_MS = 2;
/** A name not (yet) resolvable is asked again after this long; an unanswered query after QUERY_TIMEOUT_MS. */
const RETRY_MS = 10;
const QUERY_TIMEOUT_MS = 1000;
/** The most clients one run releases: the FIFO write of one byte each must stay atomic (PIPE_BUF, 4096). */
const MAX_CLIENTS = 4096;

const [dir, countText, dnsServer, domain, timeoutText] = process.argv.slice(2);
if (!dir || !countText || !dnsServer || !domain || !timeoutText) {
  process.stderr.write('usage: storm-watch.ts DIR COUNT DNS_SERVER|- DOMAIN TIMEOUT_MS\n');
  process.exit(2);
}
const count = Number(countText);
const timeoutMs = Number(timeoutText);
if (!(Number.isInteger(count) && count >= 1 && count <= MAX_CLIENTS)) {
  process.stderr.write(`COUNT must be 1..${MAX_CLIENTS}\n`);
  process.exit(2);
}
const withDns = dnsServer !== '-';
const wallMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Client {
  name: string;
  /** ms after the release, from the hook's own clock; null until bound. */
  boundMs: number | null;
  ip: string | null;
  namedMs: number | null;
  /** When the next query for the name may go out (wall ms). */
  nextQueryAt: number;
}

const clients = new Map<string, Client>();
const byQueryId = new Map<number, Client>();
let nextId = 1;

async function waitReady(deadline: number): Promise<number> {
  let ready = 0;
  while (wallMs() < deadline) {
    ready = readdirSync(join(dir!, 'ready')).length;
    if (ready >= count) return ready;
    await sleep(20);
  }
  return ready;
}

/** Reads DIR/bound: each file holds "EPOCH_NS IP\n" once the hook finished writing it. */
function scanBound(t0: number): void {
  for (const name of readdirSync(join(dir!, 'bound'))) {
    const c = clients.get(name) ?? { name, boundMs: null, ip: null, namedMs: null, nextQueryAt: 0 };
    clients.set(name, c);
    if (c.boundMs !== null) continue;
    const m = /^(\d+) (\d+\.\d+\.\d+\.\d+)\n$/.exec(readFileSync(join(dir!, 'bound', name), 'utf8'));
    if (!m) continue;
    c.boundMs = Number(BigInt(m[1]!) / 1000n) / 1000 - t0;
    c.ip = m[2]!;
  }
}

function query(socket: ReturnType<typeof createSocket>, c: Client, now: number): void {
  const id = nextId;
  nextId = nextId === 0xffff ? 1 : nextId + 1;
  byQueryId.set(id, c);
  c.nextQueryAt = now + QUERY_TIMEOUT_MS;
  const packet = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `${c.name}.${domain}` }] });
  socket.send(packet, 53, dnsServer);
}

function onAnswer(msg: Buffer, t0: number): void {
  let p: dnsPacket.Packet;
  try {
    p = dnsPacket.decode(msg);
  } catch {
    return;
  }
  const c = p.id === undefined ? undefined : byQueryId.get(p.id);
  if (!c || p.id === undefined) return;
  byQueryId.delete(p.id);
  const now = wallMs();
  const hit = (p.answers ?? []).some((a) => a.type === 'A' && a.data === c.ip);
  if (hit && c.namedMs === null) c.namedMs = now - t0;
  else if (!hit) c.nextQueryAt = now + RETRY_MS;
}

function done(): boolean {
  if (clients.size < count) return false;
  for (const c of clients.values()) if (c.boundMs === null || (withDns && c.namedMs === null)) return false;
  return true;
}

async function main(): Promise<void> {
  const deadline = wallMs() + timeoutMs;
  const ready = await waitReady(deadline);
  if (ready < count) {
    process.stdout.write(`${JSON.stringify({ error: `only ${ready} of ${count} clients got ready` })}\n`);
    return;
  }
  const socket = createSocket('udp4');
  const fifo = openSync(join(dir!, 'go'), 'w');
  const t0 = wallMs();
  writeSync(fifo, '\n'.repeat(count));
  socket.on('message', (msg) => onAnswer(msg, t0));
  const end = t0 + timeoutMs;
  while (!done() && wallMs() < end) {
    scanBound(t0);
    const now = wallMs();
    if (withDns) for (const c of clients.values()) if (c.boundMs !== null && c.namedMs === null && now >= c.nextQueryAt) query(socket, c, now);
    await sleep(POLL_MS);
  }
  // Kept open until here: a client that opens the FIFO late still finds its newline.
  closeSync(fifo);
  socket.close();
  const list = [...clients.values()];
  process.stdout.write(
    `${JSON.stringify({
      releasedAt: t0,
      bound: list.filter((c) => c.boundMs !== null).map((c) => ({ name: c.name, ms: c.boundMs, ip: c.ip, namedMs: c.namedMs })),
      complete: done(),
    })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`storm-watch: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
