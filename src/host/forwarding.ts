/**
 * IPv4 forwarding for the containers' traffic. net.ipv4.ip_forward is per network namespace, so this
 * affects only the namespace of the calling process. The previous value is kept so that exit can
 * restore it when we were the ones who changed it.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const IP_FORWARD_PATH = '/proc/sys/net/ipv4/ip_forward';

export interface ForwardingChange {
  path: string;
  /** The value before we wrote (trimmed file contents, "0" or "1"). */
  previous: string;
  /** We wrote "1" (it was not already enabled). */
  changed: boolean;
}

/** Parses the sysctl file's text; anything but a decimal integer is an error. */
export function parseSysctlFlag(text: string): boolean {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw new Error(`unexpected sysctl value ${JSON.stringify(text)}`);
  return Number(trimmed) !== 0;
}

export function enableForwarding(path: string = IP_FORWARD_PATH): ForwardingChange {
  let previous: string;
  try {
    previous = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (parseSysctlFlag(previous)) return { path, previous, changed: false };
  try {
    writeFileSync(path, '1\n');
  } catch (error) {
    throw new Error(`cannot enable IPv4 forwarding (${path}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return { path, previous, changed: true };
}

/** Puts back the value enableForwarding found, if it changed it. Returns whether it wrote. */
export function restoreForwarding(change: ForwardingChange): boolean {
  if (!change.changed) return false;
  writeFileSync(change.path, `${change.previous}\n`);
  return true;
}
