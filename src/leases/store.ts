/**
 * Where the daemon, the CLI and the tests get a lease store: the `LeaseStore` interface (its contract is in
 * store-contract.ts) and `LeaseStore.open`, which opens the SQLite store the daemon uses (sqlite-store.ts), plus the
 * read-only readers for other processes. Code that only uses a store (the lease table) imports store-contract.ts and
 * never loads SQLite.
 */

import { SqliteLeaseStore, type SqliteStoreOptions } from './sqlite-store.ts';
import type { LeaseStore as LeaseStoreContract } from './store-contract.ts';

export { readLeases6ReadOnly, readLeasesReadOnly, readReservationsReadOnly, SCHEMA_VERSION } from './sqlite-store.ts';

export type LeaseStore = LeaseStoreContract;

export const LeaseStore = {
  /** The daemon's store: the SQLite database at `path` (see SqliteLeaseStore.open for the options). */
  open(path: string, options: SqliteStoreOptions = {}): SqliteLeaseStore {
    return SqliteLeaseStore.open(path, options);
  },
};
