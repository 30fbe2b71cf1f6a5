// Where the memory of 100 000 leases goes, without the daemon around it: seeds a SQLite lease store the way
// `run.ts --only=scale` does (bound leases with host names s0…sN, no client-id; `--client-ids` adds a 7-byte option
// 61 to each), then in a fresh process opens it and loads it in the daemon's order (store, pool, LeaseTable.load(),
// HostNames with every name registered), measuring after each step with a full GC: V8 heap used, array buffers
// (typed arrays), RSS. `--snapshot` also writes a heap snapshot after the load and prints the ten largest kinds of
// objects in it by self size. Bytes per lease = growth / N.
// Usage: node --expose-gc --import tsx bench/lease-memory.ts [N] [--client-ids] [--snapshot]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapSnapshot } from 'node:v8';
import { HostNames } from '../src/leases/names.ts';
import { AddressPool } from '../src/leases/pool.ts';
import { LeaseStore } from '../src/leases/store.ts';
import { LeaseTable } from '../src/leases/table.ts';

const RANGE_FIRST = 0x0a010000; // 10.1.0.0, as the bench's scale range
const RANGE_LAST = 0x0a02ffff;

function macOf(i: number): string {
  const bytes = [0x02, 0xdd, (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function seed(path: string, count: number, clientIds: boolean): void {
  const store = LeaseStore.open(path);
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const clientId = clientIds ? Buffer.from(`01${macOf(i).replaceAll(':', '')}`, 'hex') : null;
    store.stage({ ip: RANGE_FIRST + i, mac: macOf(i), clientId, hostname: `s${i}`, state: 'bound', expiresAt: now + 3_600_000, updatedAt: now });
  }
  store.commit();
  store.close();
}

interface Sample {
  step: string;
  heapMB: number;
  arrayBuffersMB: number;
  rssMB: number;
}

function sample(step: string): Sample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { step, heapMB: m.heapUsed / 2 ** 20, arrayBuffersMB: m.arrayBuffers / 2 ** 20, rssMB: m.rss / 2 ** 20 };
}

/** Self size per (node type, constructor name) in a heap snapshot, the largest first. */
async function snapshotSummary(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snap = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const stride = fields.length;
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const types = snap.snapshot.meta.node_types[0];
  const bySize = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '' : (snap.strings[snap.nodes[i + nameAt] as number] ?? '?');
    const key = `${type} ${name.slice(0, 40)}`;
    const entry = bySize.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += snap.nodes[i + sizeAt] as number;
    entry.count++;
    bySize.set(key, entry);
  }
  return [...bySize.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, 10)
    .map(([key, { bytes, count }]) => `${(bytes / 2 ** 20).toFixed(2).padStart(7)} MB ${String(count).padStart(8)} × ${key}`);
}

async function measure(path: string, count: number, snapshot: boolean): Promise<void> {
  const samples = [sample('start')];
  const store = LeaseStore.open(path, { groupCommit: true });
  samples.push(sample('store open'));
  const pool = new AddressPool(RANGE_FIRST, RANGE_LAST);
  const table = new LeaseTable({ store, pool });
  const t0 = performance.now();
  table.load();
  const loadMs = performance.now() - t0;
  samples.push(sample('table loaded'));
  const names = new HostNames(table.activeCount);
  names.claimActiveLeases(table);
  const t1 = performance.now();
  names.registerPending();
  const namesMs = performance.now() - t1;
  samples.push(sample('names registered'));
  let previous = samples[0] as Sample;
  for (const s of samples) {
    const perLease = (mb: number): string => (count > 0 ? ((mb * 2 ** 20) / count).toFixed(0) : '-');
    const heap = s.heapMB - previous.heapMB;
    const buffers = s.arrayBuffersMB - previous.arrayBuffersMB;
    process.stdout.write(
      `${s.step.padEnd(17)} heap ${s.heapMB.toFixed(1).padStart(6)} MB  typed arrays ${s.arrayBuffersMB.toFixed(1).padStart(5)} MB  rss ${s.rssMB.toFixed(1).padStart(6)} MB  step: ${perLease(heap)} + ${perLease(buffers)} B/lease\n`,
    );
    previous = s;
  }
  const first = samples[0] as Sample;
  const last = samples[samples.length - 1] as Sample;
  const total = last.heapMB - first.heapMB + last.arrayBuffersMB - first.arrayBuffersMB;
  process.stdout.write(
    `total ${((total * 2 ** 20) / Math.max(1, count)).toFixed(0)} B/lease (heap + typed arrays); load ${loadMs.toFixed(0)} ms, names ${namesMs.toFixed(0)} ms\n`,
  );
  if (snapshot) for (const line of await snapshotSummary()) process.stdout.write(`${line}\n`);
  if (names.size < 0) throw new Error('unreachable: keeps the index alive until here');
  store.close();
}

const args = process.argv.slice(2);
const measureAt = args.indexOf('--measure');
const count = Number(args.find((a) => /^\d+$/.test(a)) ?? 100_000);
if (measureAt >= 0) {
  await measure(args[measureAt + 1] as string, count, args.includes('--snapshot'));
} else {
  const dir = mkdtempSync(join(tmpdir(), 'lease-memory-'));
  try {
    const db = join(dir, 'leases.db');
    seed(db, count, args.includes('--client-ids'));
    const self = fileURLToPath(import.meta.url);
    const flags = ['--expose-gc', '--import', 'tsx'];
    const run = spawnSync(process.execPath, [...flags, self, String(count), '--measure', db, ...args.filter((a) => a === '--snapshot')], { stdio: 'inherit' });
    if (run.status !== 0) process.exitCode = 1;
    readFileSync(db).length; // the seeded file existed until the child finished
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
