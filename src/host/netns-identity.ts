/**
 * Which network namespace we run in, as a suffix for default per-bridge paths. /var/lib and /run are shared by every
 * namespace on the machine, so two daemons for "br0" in different namespaces (ip netns, nested container hosts) would
 * otherwise share a lease database and a control socket. The initial namespace gets no suffix; a namespace made with
 * `ip netns add NAME` gets "@NAME" (stable across reboots); any other gets "@net-INODE".
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

function netnsInode(path: string): number | null {
  try {
    const link = readlinkSync(path); // "net:[4026531840]"
    const m = /^net:\[(\d+)\]$/.exec(link);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function netnsSuffix(procSelf = '/proc/self/ns/net', procInit = '/proc/1/ns/net', namedDir = '/run/netns'): string {
  const own = netnsInode(procSelf);
  if (own === null) return '';
  try {
    for (const name of readdirSync(namedDir)) {
      if (statSync(join(namedDir, name)).ino === own && /^[A-Za-z0-9_.-]+$/.test(name)) return `@${name}`;
    }
  } catch {
    // no named namespaces
  }
  // /proc/1/ns/net may be unreadable (no ptrace access to PID 1): then we cannot tell, and assume the initial one.
  const init = netnsInode(procInit);
  return init === null || own === init ? '' : `@net-${own}`;
}
