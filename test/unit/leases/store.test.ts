import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import type { Lease } from '../../../src/leases/lease.ts';
import { LeaseStore, readLeases6ReadOnly, readLeasesReadOnly, readReservationsReadOnly, SCHEMA_VERSION } from '../../../src/leases/store.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STORE_MODULE = pathToFileURL(join(REPO_ROOT, 'src/leases/store.ts')).href;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sampleLease(ip: number, overrides: Partial<Lease> = {}): Lease {
  return {
    ip,
    mac: '02:00:00:00:00:01',
    clientId: null,
    hostname: null,
    state: 'bound',
    expiresAt: 1_700_000_600_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

test('open creates the parent directory with mode 0700, WAL mode and the schema version', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'nested', 'state', 'leases.db');
  const store = LeaseStore.open(path);
  store.close();
  assert.equal(statSync(join(dir, 'nested', 'state')).mode & 0o777, 0o700);
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const indexes = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leases'").all();
    assert.ok(indexes.some((row) => row.name === 'leases_mac'));
  } finally {
    db.close();
  }
});

test('open refuses a database written by a newer schema', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const db = new Database(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(() => LeaseStore.open(path), /newer/);
});

test('staged writes are invisible until commit, last stage per ip wins, rows survive close/reopen', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path);
  store.stage(sampleLease(1, { hostname: 'first' }));
  store.stage(sampleLease(1, { hostname: 'second', clientId: Buffer.from([1, 2, 3]) }));
  store.stage(sampleLease(2, { state: 'declined', mac: '' }));
  assert.equal(store.pendingCount, 2);
  assert.deepEqual(store.loadAll(), []);
  assert.equal(store.commit(), 2);
  assert.equal(store.pendingCount, 0);
  assert.equal(store.commit(), 0);
  store.close();

  const reopened = LeaseStore.open(path);
  t.after(() => reopened.close());
  assert.deepEqual(reopened.loadAll(), [
    sampleLease(1, { hostname: 'second', clientId: Buffer.from([1, 2, 3]) }),
    sampleLease(2, { state: 'declined', mac: '' }),
  ]);
});

test('stageDelete removes a row; stage after stageDelete of the same ip keeps the stage', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path);
  t.after(() => store.close());
  store.stage(sampleLease(1));
  store.stage(sampleLease(2));
  store.commit();
  store.stageDelete(1);
  store.stageDelete(2);
  store.stage(sampleLease(2, { state: 'released' }));
  assert.equal(store.commit(), 2);
  assert.deepEqual(store.loadAll(), [sampleLease(2, { state: 'released' })]);
});

test('close commits what is pending', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path);
  store.stage(sampleLease(7));
  store.close();
  assert.deepEqual(readLeasesReadOnly(path), [sampleLease(7)]);
});

test('hostile hostnames and client ids are stored verbatim as data', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path);
  t.after(() => store.close());
  const hostname = "x'); DROP TABLE leases; --\u0000\u00ff";
  const clientId = Buffer.from([0, 39, 34, 59, 0xff]);
  store.stage(sampleLease(3, { hostname, clientId }));
  store.commit();
  assert.deepEqual(store.loadAll(), [sampleLease(3, { hostname, clientId })]);
});

test('a read-only reader sees committed rows while the writer is open, and after it closes', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const writer = LeaseStore.open(path);
  writer.stage(sampleLease(10));
  writer.commit();
  writer.stage(sampleLease(11));
  assert.deepEqual(readLeasesReadOnly(path), [sampleLease(10)], 'uncommitted rows are not visible');
  writer.commit();
  assert.deepEqual(readLeasesReadOnly(path), [sampleLease(10), sampleLease(11)]);
  writer.close();
  assert.deepEqual(readLeasesReadOnly(path), [sampleLease(10), sampleLease(11)]);
});

// The timeout only stops a hung child from hanging the suite; it is not a speed check.
test('rows committed by a process survive it being SIGKILLed right after commit() returns', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'leases.db');
  const script = join(dir, 'writer.ts');
  writeFileSync(
    script,
    `
import { LeaseStore } from ${JSON.stringify(STORE_MODULE)};
const store = LeaseStore.open(process.argv[2] as string);
for (let ip = 1; ip <= 50; ip++) {
  store.stage({ ip, mac: '02:00:00:00:00:01', clientId: null, hostname: 'h' + ip, state: 'bound', expiresAt: 2000, updatedAt: 1000 });
}
store.commit();
// Staged after the commit and never committed: must not appear after the kill.
store.stage({ ip: 999, mac: '02:00:00:00:00:02', clientId: null, hostname: null, state: 'bound', expiresAt: 2000, updatedAt: 1000 });
process.stdout.write('committed\\n');
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('committed\n')) child.kill('SIGKILL');
  });
  const signal = await exit;
  assert.equal(signal, 'SIGKILL', `writer did not reach its commit: ${stderr}`);

  const leases = readLeasesReadOnly(path);
  assert.equal(leases.length, 50);
  assert.deepEqual(
    leases.map((lease) => lease.ip),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.equal(leases[49]?.hostname, 'h50');
});

test('a commit is all-or-nothing: one bad row rolls back the batch, which stays staged', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path);
  t.after(() => store.close());
  for (let ip = 1; ip <= 100; ip++) store.stage(sampleLease(ip));
  // The CHECK constraint on state rejects this row after 100 good ones were written in the same transaction.
  store.stage({ ...sampleLease(101), state: 'bogus' as Lease['state'] });
  assert.throws(() => store.commit(), /CHECK constraint/);
  assert.deepEqual(store.loadAll(), []);
  assert.equal(store.pendingCount, 101);
  store.stage(sampleLease(101));
  assert.equal(store.commit(), 101);
  assert.equal(store.loadAll().length, 101);
});

test('a 10k-row commit writes every row', (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path);
  t.after(() => store.close());
  for (let ip = 1; ip <= 10_000; ip++) store.stage(sampleLease(ip, { hostname: `host-${ip}` }));
  const started = process.hrtime.bigint();
  const rows = store.commit();
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.diagnostic(`10k-row commit took ${elapsedMs.toFixed(1)} ms`);
  assert.equal(rows, 10_000);
  assert.equal(readLeasesReadOnly(path).length, 10_000);
});

test('load visits every row once, in address order, across its read pages (on and just past a page boundary)', (t) => {
  for (const count of [4096, 4097]) {
    const path = join(tempDir(t), `leases-${count}.db`);
    const store = LeaseStore.open(path);
    t.after(() => store.close());
    // Staged in descending order: the order of the rows on disk is not the order they come out in.
    for (let i = count - 1; i >= 0; i--) store.stage(sampleLease(0xfffff000 - 3 * i, { hostname: `h${i}` }));
    store.commit();
    const seen: number[] = [];
    let expected = -1;
    store.load(
      (lease) => seen.push(lease.ip),
      (n) => {
        expected = n;
      },
    );
    assert.equal(expected, count);
    assert.deepEqual(
      seen,
      Array.from({ length: count }, (_, i) => 0xfffff000 - 3 * (count - 1 - i)),
    );
  }
});

test('close() while a group sync waits for the thread pool: the WAL fd stays open until the sync returns, which succeeds', async (t) => {
  const path = join(tempDir(t), 'leases.db');
  const store = LeaseStore.open(path, { groupCommit: true });
  // Occupy libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says more) so the fdatasync queues behind.
  const threads = Math.max(4, Number(process.env.UV_THREADPOOL_SIZE ?? 4));
  const busy = Array.from({ length: threads }, () => new Promise((resolve) => pbkdf2('x', 'y', 100_000, 32, 'sha256', resolve)));
  store.stage(sampleLease(1));
  const synced = new Promise<Error | null>((resolve) => store.commitThen(resolve));
  store.close();
  assert.equal(await synced, null, 'the sync under way when close() ran did not fail');
  await Promise.all(busy);
  assert.deepEqual(
    readLeasesReadOnly(path).map((lease) => lease.ip),
    [1],
  );
});

test('the database and its -wal/-shm files are created 0600 in a 0700 directory, whatever the umask', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'state', 'leases.db');
  const umask = process.umask(0o022);
  let store: LeaseStore;
  try {
    store = LeaseStore.open(path, { groupCommit: true });
  } finally {
    process.umask(umask);
  }
  store.stage(sampleLease(0x0a000064));
  store.commit();
  const modes = Object.fromEntries(['', '-wal', '-shm'].map((suffix) => [`leases.db${suffix}`, (statSync(`${path}${suffix}`).mode & 0o777).toString(8)]));
  store.close();
  assert.deepEqual(modes, { 'leases.db': '600', 'leases.db-wal': '600', 'leases.db-shm': '600' });
  assert.equal((statSync(join(dir, 'state')).mode & 0o777).toString(8), '700');
});

test('an existing database others may read is narrowed to 0600, and said so', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'leases.db');
  LeaseStore.open(path).close();
  chmodSync(path, 0o644);
  const notices: string[] = [];
  const store = LeaseStore.open(path, { onNotice: (m) => notices.push(m) });
  store.close();
  assert.equal((statSync(path).mode & 0o777).toString(8), '600');
  assert.deepEqual(notices, [`${path} was readable by others (mode 0644): now 0600`]);
  const again: string[] = [];
  LeaseStore.open(path, { onNotice: (m) => again.push(m) }).close();
  assert.deepEqual(again, [], 'nothing to say the second time');
});

// ---- Schema 3: IPv6 leases and IPv6 reservations (issue 13) ----

/** A database exactly as the release before IPv6 (schema 2) writes it, with one lease and one reservation. */
function writeSchema2(path: string): void {
  const db = new Database(path);
  db.exec(`CREATE TABLE leases (
     ip INTEGER PRIMARY KEY, mac TEXT NOT NULL, client_id BLOB, hostname TEXT,
     state TEXT NOT NULL CHECK (state IN ('bound', 'released', 'expired', 'declined')),
     expires_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
   CREATE INDEX leases_mac ON leases(mac);
   CREATE TABLE reservations (mac TEXT PRIMARY KEY, ip INTEGER NOT NULL UNIQUE, name TEXT UNIQUE);`);
  db.prepare('INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, ?)').run(0x0a000064, '02:00:00:00:00:01', Buffer.from([1, 2]), 'web', 'bound', 2000, 1000);
  db.prepare('INSERT INTO reservations VALUES (?, ?, ?)').run('02:00:00:00:00:05', 0x0a000005, 'db');
  db.pragma('user_version = 2');
  db.close();
}

test('a schema-2 database opens: every IPv4 lease and reservation kept, the leases6 table added, version 3', (t) => {
  const path = join(tempDir(t), 'leases.db');
  writeSchema2(path);
  assert.deepEqual(readLeases6ReadOnly(path), [], 'a reader of a not yet migrated file sees no IPv6 leases');
  assert.deepEqual(readReservationsReadOnly(path), [{ mac: '02:00:00:00:00:05', ip: 0x0a000005, name: 'db' }]);
  const store = LeaseStore.open(path);
  assert.equal(SCHEMA_VERSION, 3);
  assert.deepEqual(store.loadAll(), [sampleLease(0x0a000064, { clientId: Buffer.from([1, 2]), hostname: 'web', expiresAt: 2000, updatedAt: 1000 })]);
  assert.deepEqual(store.loadReservations(), [{ mac: '02:00:00:00:00:05', ip: 0x0a000005, name: 'db' }]);
  assert.deepEqual(store.loadLeases6(), []);
  store.stage6({
    ip: 'fd00::5',
    mac: '02:00:00:00:00:05',
    iaid: 7,
    duidHex: '0003000102000000000005',
    hostname: 'db',
    state: 'bound',
    expiresAt: 3000,
    updatedAt: 1000,
  });
  store.close();
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('user_version', { simple: true }), 3);
    assert.deepEqual(db.prepare('SELECT ip, iaid, hex(duid) AS duid FROM leases6').all(), [{ ip: 'fd00::5', iaid: 7, duid: '0003000102000000000005' }]);
  } finally {
    db.close();
  }
  assert.equal(readLeases6ReadOnly(path)[0]?.ip, 'fd00::5');
});

test('a bad IPv6 row stops the load naming its address, for the store and the read-only reader', (t) => {
  const path = join(tempDir(t), 'leases.db');
  LeaseStore.open(path).close();
  const db = new Database(path);
  db.prepare('INSERT INTO leases6 VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('FD00:0::7', '02:00:00:00:00:07', 1, Buffer.from([0, 3]), null, 'bound', 2000, 1000);
  db.close();
  assert.throws(() => readLeases6ReadOnly(path), /IPv6 lease row FD00:0::7: ip is not an IPv6 address in RFC 5952 form/);
  const store = LeaseStore.open(path);
  t.after(() => store.close());
  assert.throws(() => store.loadLeases6(), /FD00:0::7/);
});

// The timeout only stops a hung child from hanging the suite; it is not a speed check.
test('IPv6 rows reported durable by commitThen survive SIGKILL right after done', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'leases.db');
  const script = join(dir, 'writer6.ts');
  writeFileSync(
    script,
    `
import { LeaseStore } from ${JSON.stringify(STORE_MODULE)};
const store = LeaseStore.open(process.argv[2] as string, { groupCommit: true });
for (let i = 1; i <= 40; i++) {
  store.stage6({ ip: 'fd00::' + i.toString(16), mac: '02:00:00:00:00:01', iaid: i, duidHex: '00030001020000000001', hostname: 'h' + i, state: 'bound', expiresAt: 2000, updatedAt: 1000 });
}
store.commitThen((error) => {
  if (error) throw error;
  // Staged after done and never committed: must not appear after the kill.
  store.stage6({ ip: 'fd00::ffff', mac: '02:00:00:00:00:02', iaid: 0, duidHex: '', hostname: null, state: 'bound', expiresAt: 2000, updatedAt: 1000 });
  process.stdout.write('durable\\n');
});
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('durable\n')) child.kill('SIGKILL');
  });
  assert.equal(await exit, 'SIGKILL', `writer did not finish: ${stderr}`);
  const leases = readLeases6ReadOnly(path);
  assert.equal(leases.length, 40);
  assert.deepEqual(leases[39], {
    ip: 'fd00::28',
    mac: '02:00:00:00:00:01',
    iaid: 40,
    duidHex: '00030001020000000001',
    hostname: 'h40',
    state: 'bound',
    expiresAt: 2000,
    updatedAt: 1000,
  });
});
