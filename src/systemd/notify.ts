/**
 * sd_notify(3) without libsystemd. The protocol is one AF_UNIX datagram of newline-separated VAR=VALUE lines sent to
 * $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@'). Node's dgram module has no AF_UNIX datagram
 * sockets, so each message is handed to `systemd-notify` (Debian package `systemd`), found with `command -v`.
 *
 * Consequences, checked with systemd-notify 252 against a SO_PASSCRED receiver (test/unit/systemd/notify.test.ts):
 * - systemd-notify sends with its parent's PID (ours) in SCM_CREDENTIALS only when it may fake credentials, which needs
 *   CAP_SYS_ADMIN; the unit's CapabilityBoundingSet leaves that out, so the message carries systemd-notify's own PID.
 *   The unit therefore needs `NotifyAccess=all` (contrib/lxc-dhcpd.service), and systemd-notify must run without
 *   --no-block: it then waits (BARRIER=1, at most 5 s) until systemd has processed the message, so the sender is still
 *   alive when systemd looks up its cgroup to attribute it.
 * - Without systemd-notify, notifications are impossible: use Type=simple (see docs/operations.md).
 */
import { spawn, spawnSync } from 'node:child_process';

/** True when started by systemd: logs then go to the journal, which adds its own timestamps. */
export function isUnderSystemd(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.JOURNAL_STREAM) || Boolean(env.INVOCATION_ID);
}

/** The path of systemd-notify as `command -v` finds it on PATH, or null. */
export function findSystemdNotify(env: NodeJS.ProcessEnv = process.env): string | null {
  const found = spawnSync('/bin/sh', ['-c', 'command -v systemd-notify'], { env, encoding: 'utf8', timeout: 5000 });
  const path = found.status === 0 ? found.stdout.trim() : '';
  return path.startsWith('/') ? path : null;
}

/** One VAR=VALUE line; a newline in the value would start another variable, so newlines become spaces. */
export function notifyAssignment(name: string, value: string): string {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new RangeError(`not a notification variable name: ${JSON.stringify(name)}`);
  return `${name}=${value.replace(/[\r\n]+/g, ' ')}`;
}

interface NotifierOptions {
  /** Where NOTIFY_SOCKET and PATH are read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** systemd-notify to run; default: findSystemdNotify(env). null means none available. */
  command?: string | null;
  /** Kill a systemd-notify that has not finished after this long. Default 10 s (its barrier waits at most 5 s). */
  timeoutMs?: number;
  /** A notification that could not be delivered. */
  onError?: (error: Error) => void;
  /** CLOCK_MONOTONIC in microseconds (for RELOADING=1). Default: process.hrtime (libuv uses CLOCK_MONOTONIC). */
  monotonicUsec?: () => bigint;
}

export interface SystemdNotifier {
  /** True when NOTIFY_SOCKET is set and systemd-notify was found. */
  readonly enabled: boolean;
  /** Why notifications are off although NOTIFY_SOCKET is set (no systemd-notify), else null. */
  readonly problem: string | null;
  /** READY=1 (and STATUS= when given): start-up is complete, or a reload finished. */
  ready(status?: string): Promise<boolean>;
  /** RELOADING=1 with MONOTONIC_USEC=; send ready() when the reload is done. */
  reloading(status?: string): Promise<boolean>;
  stopping(status?: string): Promise<boolean>;
  status(text: string): Promise<boolean>;
  /** Sends raw VAR=VALUE lines (use notifyAssignment to build them). Resolves false when nothing was delivered. */
  notify(assignments: readonly string[]): Promise<boolean>;
}

/**
 * Notifications go out one at a time, in call order. Every method resolves (false when not delivered, after
 * reporting through onError); none rejects, so the daemon can fire and forget.
 */
export function createNotifier(options: NotifierOptions = {}): SystemdNotifier {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET ?? '';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const monotonicUsec = options.monotonicUsec ?? ((): bigint => process.hrtime.bigint() / 1000n);
  const command = socket === '' ? null : options.command !== undefined ? options.command : findSystemdNotify(env);
  const enabled = socket !== '' && command !== null;
  const problem =
    socket !== '' && command === null ? 'NOTIFY_SOCKET is set but systemd-notify is not installed: systemd is not told when lxc-dhcpd is ready' : null;
  let queue: Promise<unknown> = Promise.resolve();

  const send = (assignments: readonly string[]): Promise<boolean> => {
    if (!enabled || command === null || assignments.length === 0) return Promise.resolve(false);
    const run = (): Promise<boolean> =>
      new Promise((resolve) => {
        const child = spawn(command, [...assignments], {
          env: { ...env, NOTIFY_SOCKET: socket },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        let settled = false;
        const finish = (why: string | null): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (why !== null) options.onError?.(new Error(`systemd-notify ${assignments.join(' ')}: ${why}`));
          resolve(why === null);
        };
        child.on('error', (e) => finish(e.message));
        child.on('close', (code, signal) => {
          finish(code === 0 ? null : signal ? `killed by ${signal} after ${timeoutMs} ms` : `exit ${code}: ${stderr.trim()}`);
        });
      });
    const result = queue.then(run, run);
    queue = result;
    return result;
  };

  const withStatus = (lines: string[], status: string | undefined): string[] => (status === undefined ? lines : [...lines, notifyAssignment('STATUS', status)]);

  return {
    enabled,
    problem,
    ready: (status) => send(withStatus(['READY=1'], status)),
    reloading: (status) => send(withStatus(['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`], status)),
    stopping: (status) => send(withStatus(['STOPPING=1'], status)),
    status: (text) => send([notifyAssignment('STATUS', text)]),
    notify: (assignments) => send(assignments),
  };
}
