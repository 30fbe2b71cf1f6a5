/**
 * systemd's service watchdog (sd_watchdog_enabled(3), systemd.service(5) WatchdogSec=): systemd sets $WATCHDOG_USEC
 * (and $WATCHDOG_PID, the process meant) and restarts the service when no WATCHDOG=1 arrives within that time. The
 * pings come from a timer on the event loop, at half the interval as sd_watchdog_enabled(3) advises: an event loop
 * that stops turning (a loop that never yields, as issue 11 found in the forwarder) stops them, and systemd restarts
 * the daemon instead of leaving DHCP and DNS dead behind a running process.
 */
import type { SystemdNotifier } from './notify.ts';

/** Half of $WATCHDOG_USEC in milliseconds when the watchdog is meant for this process, else null. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | null {
  const usec = env.WATCHDOG_USEC ?? '';
  if (!/^[1-9]\d{0,15}$/.test(usec)) return null;
  const forPid = env.WATCHDOG_PID ?? '';
  if (forPid !== '' && forPid !== String(pid)) return null;
  return Number(usec) / 1000 / 2;
}

export interface Watchdog {
  readonly intervalMs: number;
  stop(): void;
}

/**
 * Sends WATCHDOG=1 now and every intervalMs through `notifier`; null when the watchdog is off or notifications are
 * impossible. A ping still under way when the next is due is not doubled (each is a systemd-notify child that may
 * wait up to 5 s for systemd), so a slow systemd never piles up processes.
 */
export function startWatchdog(notifier: SystemdNotifier, env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): Watchdog | null {
  const intervalMs = watchdogIntervalMs(env, pid);
  if (intervalMs === null || !notifier.enabled) return null;
  let inFlight = false;
  const ping = (): void => {
    if (inFlight) return;
    inFlight = true;
    void notifier.notify(['WATCHDOG=1']).finally(() => (inFlight = false));
  };
  const timer = setInterval(ping, intervalMs);
  // The pings never keep a stopping daemon alive.
  timer.unref();
  ping();
  return { intervalMs, stop: () => clearInterval(timer) };
}
