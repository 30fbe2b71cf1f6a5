/**
 * Group commit, the one scheduler behind every LeaseStore's commitThen (store-contract.ts): while a durable step runs,
 * callbacks queue; the next step takes everything staged meanwhile in one write and one sync, then calls its callbacks
 * in order, so a loaded server makes one step per sync rather than one per batch, and no callback (no ACK) runs before
 * the bindings staged ahead of it are durable. A store supplies only its two steps: how it writes and how it syncs.
 */
import type { CommitDone } from './store-contract.ts';

export interface DurableSteps {
  /** Writes everything staged, all or nothing; throws when it could not (the rows stay staged). */
  write(): void;
  /** Makes what write() wrote durable, then calls `done` (with the error if it could not). */
  sync(done: (error: Error | null) => void): void;
  /** After a successful step's callbacks, before the next step (the SQLite store's WAL checkpoint). */
  afterSync?(): void;
}

export class GroupCommit {
  private syncing = false;
  private waiting: CommitDone[] = [];
  private closed = false;

  constructor(private readonly steps: DurableSteps) {}

  /** True while a step runs or callbacks wait for the next one (their ACKs are not sent yet). */
  get inFlight(): boolean {
    return this.syncing || this.waiting.length > 0;
  }

  /** `done` after the next durable step; at once when nothing is staged (`staged` rows) and nothing is pending. */
  enqueue(done: CommitDone, staged: number): void {
    if (staged === 0 && !this.inFlight) {
      done(null);
      return;
    }
    this.waiting.push(done);
    if (!this.syncing) this.next();
  }

  /** At close, once the store has made everything durable by itself: the callbacks still waiting succeed. */
  close(): void {
    this.closed = true;
    for (const done of this.waiting.splice(0)) done(null);
  }

  private next(): void {
    if (this.closed) return;
    const batch = this.waiting.splice(0);
    try {
      this.steps.write();
    } catch (e) {
      for (const done of batch) done(e as Error);
      return;
    }
    this.syncing = true;
    this.steps.sync((error) => {
      this.syncing = false;
      for (const done of batch) done(error);
      if (error === null) this.steps.afterSync?.();
      if (this.waiting.length > 0) this.next();
    });
  }
}

/** commitThen without group commit: the write is durable by itself, so `done` runs right after it. */
export function commitAndCall(commit: () => number, done: CommitDone): number {
  let rows: number;
  try {
    rows = commit();
  } catch (e) {
    done(e as Error);
    return 0;
  }
  done(null);
  return rows;
}
