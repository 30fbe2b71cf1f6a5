/**
 * Host resolution of `*.<domain>` through systemd-resolved: the bridge link gets our DNS server and the routing-only
 * domain `~lxc`, with DNSSEC and DNS-over-TLS off for that link (our zone is unsigned, and we speak plain DNS), and
 * everything is reverted at exit. The calls are the org.freedesktop.resolve1.Manager D-Bus methods, made with
 * busctl (which ships with systemd wherever resolved runs), with fixed arguments and no shell.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { formatIPv4, type IPv4 } from '../net/address.ts';

const run = promisify(execFile);
const DEST = ['org.freedesktop.resolve1', '/org/freedesktop/resolve1', 'org.freedesktop.resolve1.Manager'];
const AF_INET = 2;

/** resolved publishes its state under /run/systemd/resolve while it runs. */
export function resolvedRunning(root = '/run/systemd/resolve'): boolean {
  return existsSync(`${root}/io.systemd.Resolve`) || existsSync(`${root}/resolv.conf`);
}

/** The busctl argument lists that register the link (pure: unit-tested). */
export function resolvedRegisterCalls(ifindex: number, server: IPv4, domain: string): string[][] {
  const octets = formatIPv4(server).split('.');
  const i = String(ifindex);
  return [
    ['call', ...DEST, 'SetLinkDNS', 'ia(iay)', i, '1', String(AF_INET), '4', ...octets],
    // (domain, routing-only): the link answers only for *.domain, like resolvectl domain LINK '~domain'
    ['call', ...DEST, 'SetLinkDomains', 'ia(sb)', i, '1', domain, 'true'],
    ['call', ...DEST, 'SetLinkDNSSEC', 'is', i, 'no'],
    ['call', ...DEST, 'SetLinkDNSOverTLS', 'is', i, 'no'],
  ];
}

export function resolvedRevertCall(ifindex: number): string[] {
  return ['call', ...DEST, 'RevertLink', 'i', String(ifindex)];
}

/** The lines to give an operator who has no systemd-resolved. */
export function manualResolverHint(bridge: string, server: IPv4, domain: string): string {
  const ip = formatIPv4(server);
  return `to resolve *.${domain} from the host: with systemd-resolved run "resolvectl dns ${bridge} ${ip}; resolvectl domain ${bridge} '~${domain}'"; otherwise put "nameserver ${ip}" first in /etc/resolv.conf (dhclient: "prepend domain-name-servers ${ip};")`;
}

interface ResolvedRegistration {
  revert(): Promise<void>;
}

export async function registerWithResolved(bridge: string, server: IPv4, domain: string): Promise<ResolvedRegistration> {
  const ifindex = Number(readFileSync(`/sys/class/net/${bridge}/ifindex`, 'utf8').trim());
  for (const args of resolvedRegisterCalls(ifindex, server, domain)) await run('busctl', args, { timeout: 5000 });
  return {
    async revert() {
      await run('busctl', resolvedRevertCall(ifindex), { timeout: 5000 });
    },
  };
}
