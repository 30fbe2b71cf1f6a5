/** Group commit: ACK-gating callbacks run only once the WAL is synced; crashes lose nothing reported durable. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { Lease } from '../../../src/leases/lease.ts';
import { LeaseStore, readLeasesReadOnly } from '../../../src/leases/store.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');
const STORE_MODULE = join(REPO_ROOT, 'src', 'leases', 'store.ts');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function lease(ip: number): Lease {
  return { ip, mac: '02:00:00:00:00:01', clientId: Buffer.from([1, 0, 2]), hostname: `h${ip}`, state: 'bound', expiresAt: 2000, updatedAt: 1000 };
}

test('callbacks run after the write, asynchronously, and batches written during a sync share the next one', async (t) => {
  const path = join(tempDir(t), 'l.db');
  const store = LeaseStore.open(path, { groupCommit: true });
  t.after(() => store.close());
  const order: string[] = [];
  let next = 1;
  const done = (label: string) =>
    new Promise<void>((resolveDone, reject) => {
      store.stage(lease(next++));
      store.commitThen((error) => {
        if (error) return reject(error);
        order.push(label);
        resolveDone();
      });
    });
  const all = Promise.all([done('a'), done('b'), done('c')]);
  assert.deepEqual(order, [], 'no callback runs before the sync');
  await all;
  assert.deepEqual(order, ['a', 'b', 'c']);
  assert.equal(readLeasesReadOnly(path).length, 3);
  let immediate = false;
  store.commitThen(() => (immediate = true));
  assert.equal(immediate, true, 'nothing staged and nothing pending: done at once');
});

test('batches handed over while a sync runs are written in one transaction before the next sync', async (t) => {
  const path = join(tempDir(t), 'l.db');
  const store = LeaseStore.open(path, { groupCommit: true });
  t.after(() => store.close());
  const committed = (ip: number) =>
    new Promise<void>((res, rej) => {
      store.stage(lease(ip));
      store.commitThen((e) => (e ? rej(e) : res()));
    });
  // The first starts a sync; the next four arrive while it runs (same tick) and share one transaction and one sync.
  await Promise.all([1, 2, 3, 4, 5].map(committed));
  assert.equal(store.groupTransactions, 2);
  assert.equal(readLeasesReadOnly(path).length, 5);
});

test('the WAL is checkpointed into the database every checkpointRows rows and reused from its start', async (t) => {
  const path = join(tempDir(t), 'l.db');
  const store = LeaseStore.open(path, { groupCommit: true, checkpointRows: 500 });
  const emptySize = statSync(path).size;
  const walSizes: number[] = [];
  let dbGrewAfterRound = -1;
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 100; i++) store.stage(lease(round * 100 + i + 1));
    await new Promise<void>((res, rej) => store.commitThen((e) => (e ? rej(e) : res())));
    walSizes.push(statSync(`${path}-wal`).size);
    if (dbGrewAfterRound < 0 && statSync(path).size > emptySize) dbGrewAfterRound = round;
  }
  // The first checkpoint follows the sync after the 500th row (round 4): pages reach the database file then, not at
  // every sync and not only at close.
  assert.equal(dbGrewAfterRound, 4);
  // Reused, not truncated: the file keeps its blocks, so later syncs overwrite rather than allocate; and once reused
  // it stops growing (4000 rows would take far more room without checkpoints).
  assert.deepEqual(
    walSizes,
    [...walSizes].sort((a, b) => a - b),
    'the WAL file never shrinks while the store is open',
  );
  assert.ok((walSizes[39] as number) < 1.5 * (walSizes[4] as number), `the WAL stops growing once it is reused (${walSizes.join(' ')})`);
  store.close();
  assert.equal(statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0, 0, 'WAL emptied at close');
  assert.equal(readLeasesReadOnly(path).length, 4000);
});

test('done runs only after the fdatasync of the WAL that follows its write has returned', async (t) => {
  // The store calls node:fs's fdatasync; wrapping it (and syncing the ESM bindings) shows when each sync ends.
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const original = fs.fdatasync;
  const events: string[] = [];
  fs.fdatasync = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    events.push('sync started');
    original(fd, (error) => {
      events.push('sync returned');
      callback(error);
    });
  }) as typeof fs.fdatasync;
  syncBuiltinESMExports();
  t.after(() => {
    fs.fdatasync = original;
    syncBuiltinESMExports();
  });
  const store = LeaseStore.open(join(tempDir(t), 'l.db'), { groupCommit: true });
  t.after(() => store.close());
  const committed = (ip: number) =>
    new Promise<void>((res, rej) => {
      store.stage(lease(ip));
      store.commitThen((e) => {
        if (e) return rej(e);
        events.push(`done ${ip}`);
        res();
      });
    });
  await Promise.all([committed(1), committed(2)]);
  assert.deepEqual(events, ['sync started', 'sync returned', 'done 1', 'sync started', 'sync returned', 'done 2']);
});

// The timeout only stops a hung child from hanging the suite; it is not a speed check.
test('rows reported durable survive SIGKILL right after the callback', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'leases.db');
  const script = join(dir, 'writer.ts');
  writeFileSync(
    script,
    `
import { LeaseStore } from ${JSON.stringify(STORE_MODULE)};
const store = LeaseStore.open(process.argv[2] as string, { groupCommit: true, checkpointRows: 120 });
let rounds = 0;
const round = () => {
  for (let i = 1; i <= 50; i++) {
    const ip = rounds * 50 + i;
    store.stage({ ip, mac: '02:00:00:00:00:01', clientId: null, hostname: 'h' + ip, state: 'bound', expiresAt: 2000, updatedAt: 1000 });
  }
  rounds++;
  store.commitThen((error) => {
    if (error) throw error;
    if (rounds === 10) process.stdout.write('durable\\n');
    else round();
  });
};
round();
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('durable\n')) child.kill('SIGKILL');
  });
  assert.equal(await exit, 'SIGKILL', `writer did not finish: ${stderr}`);
  const leases = readLeasesReadOnly(path);
  assert.equal(leases.length, 500);
  assert.equal(leases[499]?.hostname, 'h500');
});
