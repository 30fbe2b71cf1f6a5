/**
 * The SQLite lease store, the daemon's implementation of LeaseStore (store-contract.ts): schema and migrations, the
 * database file's mode, staged writes committed in one transaction, group commit (write to the WAL on the event loop,
 * fdatasync on libuv's thread pool, ACKs released after it), the checked start-up read, and read-only readers for other
 * processes (`lxc-dhcpd leases`). docs/leases.md explains the durability choices and their measurements.
 */
import { chmodSync, closeSync, constants, fdatasync, fdatasyncSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { requireCjs } from '../cjs.ts';
import type { IPv4 } from '../net/address.ts';
import { compareIPv6 } from '../net/address6.ts';
import { commitAndCall, GroupCommit } from './group-commit.ts';
import { LEASE_STATES, type Lease, type LeaseState } from './lease.ts';
import type { Lease6Store, StoredLease6 } from './lease6.ts';
import { checkLease6, lease6Problem } from './lease6-check.ts';
import { macKey, macText } from './mac-key.ts';
import type { CommitDone, LeaseStore, StoredLease, StoredReservation } from './store-contract.ts';

const SqliteDatabase = requireCjs('better-sqlite3') as typeof Database;

/** Bumped whenever the schema changes; each step in MIGRATIONS brings user_version from its index to index+1. */
export const SCHEMA_VERSION = 3;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE leases (
     ip INTEGER PRIMARY KEY,
     mac TEXT NOT NULL,
     client_id BLOB,
     hostname TEXT,
     state TEXT NOT NULL CHECK (state IN ('bound', 'released', 'expired', 'declined')),
     expires_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX leases_mac ON leases(mac);`,
  // v2: reservations made at run time (`lxc-dhcpd reserve`), kept across restarts.
  `CREATE TABLE reservations (
     mac TEXT PRIMARY KEY,
     ip INTEGER NOT NULL UNIQUE,
     name TEXT UNIQUE
   );`,
  // v3: DHCPv6 IA_NA leases (lease6.ts), one row per address in RFC 5952 text; reservations may name an IPv6 address
  // (ADD COLUMN cannot carry UNIQUE: the index gives it, NULLs being distinct).
  `CREATE TABLE leases6 (
     ip TEXT PRIMARY KEY,
     mac TEXT NOT NULL,
     iaid INTEGER NOT NULL,
     duid BLOB NOT NULL,
     hostname TEXT,
     state TEXT NOT NULL CHECK (state IN ('bound', 'declined')),
     expires_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX leases6_mac ON leases6(mac);
   ALTER TABLE reservations ADD COLUMN ip6 TEXT;
   CREATE UNIQUE INDEX reservations_ip6 ON reservations(ip6);`,
];

const BUSY_TIMEOUT_MS = 5000;

/**
 * The database holds every container's MAC, address and host name: root only. SQLite creates the -wal and -shm files
 * with the database file's mode, so creating that one 0600 covers all three.
 */
const DB_FILE_MODE = 0o600;
const DB_DIR_MODE = 0o700;

/**
 * Creates the database file 0600 before SQLite opens it (SQLite would create it 0644 less the umask), and narrows an
 * existing file (or -wal/-shm) that others may read; returns one line per file it narrowed. An existing directory
 * keeps its mode: it may be shared (e.g. --lease-db /var/lib/misc/...), only one we create is 0700.
 */
function secureDatabaseFiles(path: string): string[] {
  mkdirSync(dirname(path), { recursive: true, mode: DB_DIR_MODE });
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, DB_FILE_MODE));
    return [];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const narrowed: string[] = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    chmodSync(file, mode & 0o700);
    narrowed.push(`${file} was readable by others (mode ${mode.toString(8).padStart(4, '0')}): now ${(mode & 0o700).toString(8).padStart(4, '0')}`);
  }
  return narrowed;
}
/** Upper bound of the memory map used while loading (the file is mapped only as far as it is long). */
const LOAD_MMAP_BYTES = 1 << 30;

/**
 * One stored lease as SQLite hands it over (raw, no row object), checked by checkRow() before anything uses it:
 * client_id as lower-case hex (one string instead of a separately allocated Buffer per row), the state as its index
 * in LEASE_STATES (no string per row). Read by name into a StoredLease right after the check; nothing else sees it.
 */
type LeaseRowTuple = readonly [
  ip: IPv4,
  mac: string,
  clientIdHex: string | null,
  hostname: string | null,
  stateCode: number,
  expiresAt: number,
  updatedAt: number,
];

const STATE_CODE_SQL = `CASE state ${LEASE_STATES.map((state, code) => `WHEN '${state}' THEN ${code}`).join(' ')} ELSE -1 END`;

/**
 * Rows per read at start-up. better-sqlite3's iterate() crosses from C++ to JavaScript once per row, .all() once per
 * page: at 100 000 leases pages of 128 rows took 180-241 ms of CPU against 286-403 ms for iterate() (same query,
 * loaded machine). Small pages because a page's row arrays are alive together: with 2048 rows they survived enough
 * scavenges for V8 to grow its young generation from 4 to 16 MB during the load (RSS that stays), with 128 to 4-8 MB.
 */
const LOAD_PAGE_ROWS = 128;
/** Below every SQLite integer: the first page starts here. */
const BEFORE_FIRST_IP = -(2n ** 63n);

const SELECT_PAGE = `SELECT ip, mac, CASE WHEN client_id IS NULL THEN NULL ELSE lower(hex(client_id)) END, hostname, ${STATE_CODE_SQL}, expires_at, updated_at FROM leases WHERE ip > ? ORDER BY ip LIMIT ${LOAD_PAGE_ROWS}`;

/**
 * The file is input like any other: a row another program wrote wrongly stops the load with its address named.
 * `key` is macKey() of the row's MAC (NaN when it is none), which the caller needs too.
 */
function badRow(ip: unknown, what: string): Error {
  return new Error(`lease row ${String(ip)}: ${what}`);
}

function checkRow(db: Database.Database, row: readonly unknown[], key: number): asserts row is LeaseRowTuple {
  const [ip, mac, clientIdHex, hostname, state, expiresAt, updatedAt] = row;
  if (typeof ip !== 'number' || !(ip >= 0 && ip <= 0xffffffff && Number.isInteger(ip))) throw badRow(ip, 'ip is not an IPv4 number');
  if (Number.isNaN(key)) throw badRow(ip, `bad MAC ${JSON.stringify(mac)}`);
  if (clientIdHex !== null && typeof clientIdHex !== 'string') throw badRow(ip, 'client_id is not a blob');
  if (hostname !== null && typeof hostname !== 'string') throw badRow(ip, 'hostname is not text');
  if (state === -1) {
    const stored: unknown = db.prepare('SELECT state FROM leases WHERE ip = ?').pluck().get(ip);
    throw new Error(`lease ${ip}: unknown state ${JSON.stringify(stored)}`);
  }
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) throw badRow(ip, 'expires_at is not a number');
  if (typeof updatedAt !== 'number' || !Number.isFinite(updatedAt)) throw badRow(ip, 'updated_at is not a number');
}

/**
 * Visits every row as a StoredLease (raw rows, read a page at a time in address order, one record object refilled per
 * row): at 100 000 leases several times faster than `.all()` row objects, and start-up time is what this is for.
 */
function forEachRow(db: Database.Database, visit: (lease: Readonly<StoredLease>) => void): void {
  const statement = db.prepare<[bigint | number], unknown[]>(SELECT_PAGE).raw(true);
  const record: StoredLease = { ip: 0, macKey: 0, clientIdHex: null, hostname: null, stateCode: 0, expiresAt: 0, updatedAt: 0 };
  for (let after: bigint | number = BEFORE_FIRST_IP; ; ) {
    const page = statement.all(after);
    for (const row of page) visitRow(db, row, record, visit);
    if (page.length < LOAD_PAGE_ROWS) return;
    after = record.ip;
  }
}

/** One raw row, checked, into `record` (refilled for every row), then to `visit`. */
function visitRow(db: Database.Database, row: unknown[], record: StoredLease, visit: (lease: Readonly<StoredLease>) => void): void {
  const mac = row[1];
  const key = typeof mac === 'string' ? macKey(mac) : Number.NaN;
  checkRow(db, row, key);
  record.ip = row[0];
  record.macKey = key;
  record.clientIdHex = row[2];
  record.hostname = row[3];
  record.stateCode = row[4];
  record.expiresAt = row[5];
  record.updatedAt = row[6];
  visit(record);
}

/** A Lease object made from a load record (tools and tests; the table never makes one per row). */
function leaseFromStored(stored: Readonly<StoredLease>): Lease {
  return {
    ip: stored.ip,
    mac: macText(stored.macKey),
    // Small Buffers made from strings share Node's pooled slab; BLOBs from better-sqlite3 each get their own backing
    // store, which at 100 000 leases costs more time and memory than everything else loaded.
    clientId: stored.clientIdHex === null ? null : Buffer.from(stored.clientIdHex, 'hex'),
    hostname: stored.hostname,
    state: LEASE_STATES[stored.stateCode] as LeaseState,
    expiresAt: stored.expiresAt,
    updatedAt: stored.updatedAt,
  };
}

function readAll(db: Database.Database): Lease[] {
  const out: Lease[] = [];
  forEachRow(db, (stored) => out.push(leaseFromStored(stored)));
  return out;
}

const SELECT_ALL6 = 'SELECT ip, mac, iaid, lower(hex(duid)), hostname, state, expires_at, updated_at FROM leases6';

/** Every IPv6 lease, checked like the IPv4 rows (a bad row stops the load naming its address), in address order. */
function readAll6(db: Database.Database): StoredLease6[] {
  const out: StoredLease6[] = [];
  for (const row of db.prepare<[], unknown[]>(SELECT_ALL6).raw(true).iterate()) {
    const [ip, mac, iaid, duidHex, hostname, state, expiresAt, updatedAt] = row;
    const lease = { ip, mac, iaid, duidHex, hostname, state, expiresAt, updatedAt };
    const problem = lease6Problem(lease);
    if (problem !== null) throw new Error(`IPv6 lease row ${String(ip)}: ${problem}`);
    out.push(lease as StoredLease6);
  }
  return out.sort((a, b) => compareIPv6(a.ip, b.ip));
}

/** A reservations row: ip6 is NULL for an IPv4-only reservation, and the record then has no ip6 at all. */
interface ReservationRow {
  mac: string;
  ip: number;
  name: string | null;
  ip6?: string | null;
}

function reservationFromRow(row: ReservationRow): StoredReservation {
  const { mac, ip, name, ip6 } = row;
  return ip6 === null || ip6 === undefined ? { mac, ip, name } : { mac, ip, name, ip6 };
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true });
  if (typeof current !== 'number') throw new Error('cannot read lease database user_version');
  if (current > SCHEMA_VERSION) {
    throw new Error(`lease database schema version ${current} is newer than this program (${SCHEMA_VERSION})`);
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    const step = MIGRATIONS[version];
    if (step === undefined) throw new Error(`no migration from lease schema version ${version}`);
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** What SqliteLeaseStore.open() accepts. */
export interface SqliteStoreOptions {
  groupCommit?: boolean;
  checkpointRows?: number;
  onNotice?: (message: string) => void;
}

/**
 * The durable lease database. Writes are staged in memory and written by commit() in one transaction,
 * so a burst of bindings costs one fsync; commit() returns only after the data is on disk.
 */
export class SqliteLeaseStore implements LeaseStore, Lease6Store {
  /** Staged writes keyed by ip; null means delete. The last stage for an ip wins. */
  private readonly staged = new Map<IPv4, Lease | null>();
  /** The same for IPv6 leases, keyed by the address's RFC 5952 text; written in the same transaction. */
  private readonly staged6 = new Map<string, StoredLease6 | null>();
  private readonly upsertStatement: Database.Statement<[number, string, Buffer | null, string | null, string, number, number]>;
  private readonly deleteStatement: Database.Statement<[number]>;
  private readonly upsert6Statement: Database.Statement<[string, string, number, Buffer, string | null, string, number, number]>;
  private readonly delete6Statement: Database.Statement<[string]>;
  private readonly writeStaged: (writes: ReadonlyMap<IPv4, Lease | null>, writes6: ReadonlyMap<string, StoredLease6 | null>) => number;
  private closed = false;

  private constructor(private readonly db: Database.Database) {
    this.upsertStatement = db.prepare(
      `INSERT INTO leases (ip, mac, client_id, hostname, state, expires_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
         hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at,
         updated_at = excluded.updated_at`,
    );
    this.deleteStatement = db.prepare('DELETE FROM leases WHERE ip = ?');
    this.upsert6Statement = db.prepare(
      `INSERT INTO leases6 (ip, mac, iaid, duid, hostname, state, expires_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, iaid = excluded.iaid, duid = excluded.duid,
         hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at,
         updated_at = excluded.updated_at`,
    );
    this.delete6Statement = db.prepare('DELETE FROM leases6 WHERE ip = ?');
    this.writeStaged = db.transaction((writes: ReadonlyMap<IPv4, Lease | null>, writes6: ReadonlyMap<string, StoredLease6 | null>): number => {
      let rows = 0;
      for (const [ip, lease] of writes) {
        const result =
          lease === null
            ? this.deleteStatement.run(ip)
            : this.upsertStatement.run(lease.ip, lease.mac, lease.clientId, lease.hostname, lease.state, lease.expiresAt, lease.updatedAt);
        rows += result.changes;
      }
      for (const [ip, lease] of writes6) rows += this.write6(ip, lease);
      return rows;
    });
  }

  /** One IPv6 row, checked first: a bad one throws inside the transaction, which then rolls the whole batch back. */
  private write6(ip: string, lease: StoredLease6 | null): number {
    if (lease === null) return this.delete6Statement.run(ip).changes;
    checkLease6(lease);
    const { mac, iaid, duidHex, hostname, state, expiresAt, updatedAt } = lease;
    return this.upsert6Statement.run(lease.ip, mac, iaid, Buffer.from(duidHex, 'hex'), hostname, state, expiresAt, updatedAt).changes;
  }

  /**
   * `groupCommit`: commits write the WAL without an fsync and commitThen() reports durability when a background
   * fdatasync of the WAL returns; batches written while one fsync runs share the next (group commit), so the event
   * loop never waits on the disk. commit() stays synchronous and durable in both modes. `onNotice` hears of a database
   * file whose mode was narrowed to 0600.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteLeaseStore {
    for (const notice of secureDatabaseFiles(path)) options.onNotice?.(notice);
    const db = new SqliteDatabase(path);
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`lease database refused WAL journal mode (got ${String(mode)})`);
      // FULL: in WAL mode every commit fsyncs the WAL, so a binding is on disk before its ACK is sent.
      db.pragma('synchronous = FULL');
      migrate(db);
      const store = new SqliteLeaseStore(db);
      if (options.groupCommit) store.enableGroupCommit(`${path}-wal`, options.checkpointRows ?? 20_000);
      return store;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Addresses with a staged change, IPv4 and IPv6 together (one commit makes both durable). */
  get pendingCount(): number {
    return this.staged.size + this.staged6.size;
  }

  /** Reservations made at run time. Written at once (they are rare and must survive a crash right after). */
  loadReservations(): StoredReservation[] {
    return this.db.prepare<[], ReservationRow>('SELECT mac, ip, name, ip6 FROM reservations ORDER BY ip').all().map(reservationFromRow);
  }

  saveReservation(r: StoredReservation): void {
    this.db
      .prepare(
        'INSERT INTO reservations (mac, ip, name, ip6) VALUES (?, ?, ?, ?) ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, name = excluded.name, ip6 = excluded.ip6',
      )
      .run(r.mac, r.ip, r.name, r.ip6 ?? null);
  }

  deleteReservation(mac: string): boolean {
    return this.db.prepare('DELETE FROM reservations WHERE mac = ?').run(mac).changes > 0;
  }

  loadAll(): Lease[] {
    return readAll(this.db);
  }

  /**
   * Visits every stored lease in address order, checked, without building Lease objects (the start-up path). `expect`
   * first learns how many rows follow, so that the caller can size its arrays once.
   */
  load(visit: (lease: Readonly<StoredLease>) => void, expect?: (count: number) => void): void {
    // Every page is read once: through a memory map SQLite does so without a read() and a copy into its small page
    // cache per page, which at 100 000 leases takes about half the time. The map goes again afterwards (mapped pages
    // count in the RSS, and later statements touch few pages).
    this.db.pragma(`mmap_size = ${LOAD_MMAP_BYTES}`);
    try {
      if (expect) expect(this.leaseCount());
      forEachRow(this.db, visit);
    } finally {
      this.db.pragma('mmap_size = 0');
    }
  }

  expireLapsed(now: number): number {
    const rows = this.db
      .prepare<[number]>("UPDATE leases SET state = 'expired', updated_at = expires_at WHERE state IN ('bound', 'declined') AND expires_at <= ?")
      .run(now).changes;
    this.rowsSinceCheckpoint += rows;
    return rows;
  }

  leaseCount(): number {
    const count = this.db.prepare<[], number>('SELECT count(*) FROM leases').pluck().get();
    return typeof count === 'number' ? count : 0;
  }

  stage(lease: Lease): void {
    this.staged.set(lease.ip, lease);
  }

  stageDelete(ip: IPv4): void {
    this.staged.set(ip, null);
  }

  /** Every durable IPv6 lease, in address order (start-up: a few thousand rows at most, so plain objects). */
  loadLeases6(): StoredLease6[] {
    return readAll6(this.db);
  }

  stage6(lease: StoredLease6): void {
    this.staged6.set(lease.ip, { ...lease });
  }

  stageDelete6(ip: string): void {
    this.staged6.set(ip, null);
  }

  /** Writes everything staged (IPv4 and IPv6) in one transaction; returns the rows changed. Durable when it returns. */
  commit(): number {
    if (this.pendingCount === 0) return 0;
    const rows = this.writeAllStaged();
    if (this.walFd !== null) fdatasyncSync(this.walFd);
    // the DHCP transport commits this way when lightly loaded (src/dhcp/inline-sync.ts): the WAL is folded back here
    // as after a group sync, or it would only grow
    if (this.group !== null && !this.group.inFlight) this.checkpointIfLarge();
    return rows;
  }

  /** One transaction with everything staged (not synced by itself under group commit); returns the rows changed. */
  private writeAllStaged(): number {
    const rows = this.writeStaged(this.staged, this.staged6);
    this.staged.clear();
    this.staged6.clear();
    this.rowsSinceCheckpoint += rows;
    return rows;
  }

  // ---- group commit ----
  private walFd: number | null = null;
  private group: GroupCommit | null = null;
  /** True while an fdatasync of the WAL runs on libuv's thread pool: close() must not close the fd under it. */
  private walSyncRunning = false;
  /** Set by close() while a sync runs: the fd is closed when that sync returns. */
  private walFdToClose: number | null = null;

  private checkpointRows = 0;
  private rowsSinceCheckpoint = 0;

  private enableGroupCommit(walPath: string, checkpointRows: number): void {
    this.checkpointRows = checkpointRows;
    // The WAL must never be checkpointed (copied into the database and then reused) by SQLite on its own without
    // syncing: checkpoints run in checkpointIfLarge(), with synchronous=FULL, which syncs around them.
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.pragma('synchronous = OFF');
    const walFd = openSync(walPath, constants.O_RDONLY | constants.O_CREAT, 0o600);
    this.walFd = walFd;
    this.group = new GroupCommit({
      write: () => {
        if (this.pendingCount === 0) return;
        this.writeAllStaged();
        this.transactions++;
      },
      sync: (done) => this.syncWal(walFd, done),
      afterSync: () => this.checkpointIfLarge(),
    });
  }

  /**
   * An fdatasync of the WAL off the event loop. A close() meanwhile leaves the fd open until it returns: closed under
   * it, the sync failed with EBADF (seen in the contract test on a loaded machine), and the fd number could even have
   * been reused by then.
   */
  private syncWal(walFd: number, done: (error: Error | null) => void): void {
    this.walSyncRunning = true;
    fdatasync(walFd, (error) => {
      this.walSyncRunning = false;
      if (this.walFdToClose !== null) {
        closeSync(this.walFdToClose);
        this.walFdToClose = null;
      }
      done(error);
    });
  }

  /** True while a group commit's sync runs or callbacks wait for the next one (their ACKs are not sent yet). */
  get syncInFlight(): boolean {
    return this.group?.inFlight ?? false;
  }

  /** Transactions written by commitThen() so far (tests and the bench: one per sync under load, not one per call). */
  get groupTransactions(): number {
    return this.transactions;
  }

  private transactions = 0;

  /**
   * Makes what is staged durable, then calls `done`: at once without group commit (the write itself synced). With
   * group commit, when no sync is running the staged rows are written in one transaction and an fdatasync of the WAL
   * starts; while one runs, rows and callbacks accumulate and are written in one transaction right before the next
   * sync, so a loaded server writes one transaction per sync rather than one per call. Returns the rows handed over.
   */
  commitThen(done: CommitDone): number {
    if (this.group === null) return commitAndCall(() => this.commit(), done);
    const handed = this.pendingCount;
    this.group.enqueue(done, handed);
    return handed;
  }

  /**
   * Folds the WAL back into the database once checkpointRows rows were written since the last time, with FULL syncing
   * around it. RESTART, not TRUNCATE: the next transactions overwrite the WAL from its start, and an fdatasync of
   * overwritten blocks needs no journal commit (about 0.16 ms here against 0.3-0.4 ms for a file that grows again after
   * each truncation). The file's size says nothing once it is reused, hence the row count.
   */
  private checkpointIfLarge(): void {
    if (this.walFd === null || this.closed || this.rowsSinceCheckpoint < this.checkpointRows) return;
    this.rowsSinceCheckpoint = 0;
    this.db.pragma('synchronous = FULL');
    try {
      this.db.pragma('wal_checkpoint(RESTART)');
    } finally {
      this.db.pragma('synchronous = OFF');
    }
  }

  close(): void {
    if (this.closed) return;
    try {
      this.commit();
      // What waited for the next group sync is on disk now (commit() synced it).
      this.group?.close();
      if (this.walFd !== null) {
        this.db.pragma('synchronous = FULL');
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      }
    } finally {
      this.closed = true;
      if (this.walFd !== null && this.walSyncRunning) this.walFdToClose = this.walFd;
      else if (this.walFd !== null) closeSync(this.walFd);
      this.walFd = null;
      this.db.close();
    }
  }
}

/** Reads every lease through a separate read-only connection; safe while the daemon holds the database open. */
export function readLeasesReadOnly(path: string): Lease[] {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return readAll(db);
  } finally {
    db.close();
  }
}

/** The reservations made at run time, read without disturbing a running daemon. */
export function readReservationsReadOnly(path: string): StoredReservation[] {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version < 2) return [];
    // A database no daemon of this release has opened yet (schema 2) has no ip6 column: read-only, it is not migrated.
    const columns = version < 3 ? 'mac, ip, name' : 'mac, ip, name, ip6';
    return db.prepare<[], ReservationRow>(`SELECT ${columns} FROM reservations ORDER BY ip`).all().map(reservationFromRow);
  } finally {
    db.close();
  }
}

/** Every IPv6 lease (any state), checked, in address order, read without disturbing a running daemon. */
export function readLeases6ReadOnly(path: string): StoredLease6[] {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Schema 2 (a database the current daemon has not opened yet) has no IPv6 leases.
    if ((db.pragma('user_version', { simple: true }) as number) < 3) return [];
    return readAll6(db);
  } finally {
    db.close();
  }
}
