/**
 * How the daemon stops: one teardown, run once, whatever asks for it: SIGTERM or SIGINT (exit 0 when every step
 * succeeded), or an error nothing caught (logged, exit 1). The teardown undoes what the daemon changed on the host
 * (nft table, forwarding, bridge), so even a bug leaves nothing behind. A second signal while it runs changes nothing;
 * an error thrown by a stray callback while it runs is logged and makes the exit status 1, but the remaining steps
 * still run. `runSteps` is the teardown's shape: every step runs even when an earlier one failed; `DisposerStack` is
 * where each part of the daemon registers its undo as it starts, so a failed start and a stop unwind the same steps.
 */
import type { Logger } from './log.ts';

/**
 * A teardown that has not finished after this long is abandoned (exit 1, logged): what it waits for (a netlink
 * answer, a disk) is not coming. Undoing the host set-up takes milliseconds and closing the lease database well
 * under a second; systemd's own stop timeout (90 s by default) would otherwise kill us without a word.
 */
const TEARDOWN_DEADLINE_MS = 15_000;

/** Errors logged while the teardown runs; a stray callback that throws on every turn would otherwise flood the log. */
export const MAX_ERRORS_LOGGED_WHILE_STOPPING = 5;

interface ShutdownOptions {
  log: Logger;
  /** Undoes everything; rejects when a step failed (after running the others). */
  teardown: () => Promise<void>;
  exit: (code: number) => void;
  /** Called once when the stop begins (e.g. systemd's STOPPING=1). */
  onStopping?: () => void;
  deadlineMs?: number;
}

interface Shutdown {
  readonly stopping: boolean;
  /** A signal asks us to stop: teardown, exit 0 if it was clean. Ignored while stopping. */
  request(reason: string): void;
  /** An error nothing caught: logged; the teardown starts if it has not, and the exit status is 1. */
  fatal(kind: string, error: unknown): void;
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export function createShutdown(o: ShutdownOptions): Shutdown {
  let stopping = false;
  let failed = false;
  let errorsWhileStopping = 0;

  const start = (): void => {
    stopping = true;
    try {
      o.onStopping?.();
    } catch (e) {
      o.log.warn(`shutdown: ${describe(e)}`);
    }
    const deadline = setTimeout(() => {
      o.log.error(`shutdown: teardown did not finish within ${o.deadlineMs ?? TEARDOWN_DEADLINE_MS} ms; exiting anyway`);
      o.exit(1);
    }, o.deadlineMs ?? TEARDOWN_DEADLINE_MS);
    let teardown: Promise<void>;
    try {
      teardown = o.teardown();
    } catch (e) {
      teardown = Promise.reject(e);
    }
    teardown.then(
      () => {
        clearTimeout(deadline);
        o.exit(failed ? 1 : 0);
      },
      (e: unknown) => {
        clearTimeout(deadline);
        o.log.error(`shutdown: ${(e as Error).message ?? String(e)}`);
        o.exit(1);
      },
    );
  };

  return {
    get stopping() {
      return stopping;
    },
    request(reason) {
      if (stopping) {
        o.log.info(`${reason}: already shutting down`);
        return;
      }
      o.log.info(`${reason}: shutting down`);
      start();
    },
    fatal(kind, error) {
      failed = true;
      if (stopping) {
        errorsWhileStopping++;
        if (errorsWhileStopping <= MAX_ERRORS_LOGGED_WHILE_STOPPING) {
          o.log.error(`${kind} while shutting down (teardown continues): ${describe(error)}`);
        }
        if (errorsWhileStopping === MAX_ERRORS_LOGGED_WHILE_STOPPING) o.log.error('shutdown: further errors are not logged');
        return;
      }
      o.log.error(`${kind}: ${describe(error)}; undoing the host set-up and exiting`);
      start();
    },
  };
}

/** Routes SIGTERM, SIGINT and every uncaught error of the process to `shutdown`. */
export function installShutdownHandlers(shutdown: Shutdown, target: NodeJS.Process = process): void {
  target.on('SIGTERM', () => shutdown.request('SIGTERM'));
  target.on('SIGINT', () => shutdown.request('SIGINT'));
  target.on('uncaughtException', (error) => shutdown.fatal('uncaught exception', error));
  target.on('unhandledRejection', (reason) => shutdown.fatal('unhandled promise rejection', reason));
}

/**
 * Runs every step in order, each on its own: one that throws (or rejects) is logged and the next one runs anyway.
 * Rejects at the end, naming the failed steps, when any failed.
 */
export async function runSteps(steps: readonly (readonly [string, () => unknown])[], log: Logger): Promise<void> {
  const failed: string[] = [];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (e) {
      failed.push(what);
      log.error(`shutdown: ${what} failed: ${describe(e)}`);
    }
  }
  if (failed.length > 0) throw new Error(`teardown incomplete: ${failed.join(', ')} failed`);
}

/** Why a DisposerStack unwinds: a stop (SIGTERM, close()) or a start that failed part-way. */
export type UnwindReason = 'stop' | 'rollback';

/** One named undo step; it may look at why it runs (e.g. to log less when a failed start is rolled back). */
type UndoStep = readonly [string, (why: UnwindReason) => unknown];

/**
 * The undo of everything started so far. Each part registers its steps right after it started; unwinding runs the
 * parts last-started first (the steps of one part in the order given), each step once, through runSteps.
 */
export class DisposerStack {
  private readonly parts: (readonly UndoStep[])[] = [];

  /** Registers the undo of what was just started. */
  defer(...steps: UndoStep[]): void {
    this.parts.push(steps);
  }

  /** Runs every registered step (and forgets them); rejects at the end, naming the failed steps, when any failed. */
  unwind(why: UnwindReason, log: Logger): Promise<void> {
    const steps = this.parts.splice(0).reverse().flat();
    return runSteps(
      steps.map(([what, step]) => [what, () => step(why)] as const),
      log,
    );
  }
}

/**
 * Lets replies decided before the stop go out before the socket closes. A probe ended by the stop reaches the DHCP
 * transport after a few promise hops and is sent on the next turn of the event loop (hence two turns at least); an
 * ACK leaves once the lease store's group commit has synced (`busy` says one is under way), for at most `deadlineMs`.
 * False when it gave up with `busy` still true.
 */
export async function drainDecided(busy: () => boolean, deadlineMs: number): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  for (let turn = 0; turn < 2 || (busy() && Date.now() < until); turn++) {
    await new Promise<void>((resolve) => (turn < 2 ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
  return !busy();
}
