/**
 * The text `lxc-dhcpd check-config` prints: what an lxc-net configuration and a dnsmasq conf file would make
 * lxc-dhcpd serve, written as the flags that serve it, then what is served differently and every line that is not
 * read (file:line: option: reason). Pure, so the command's output is tested without files or a terminal.
 */
import { formatIPv4 } from '../net/address.ts';
import type { DnsmasqSettings, UnsupportedLine } from './dnsmasq-conf.ts';
import type { LxcNetFlags } from './lxc-net.ts';

/** A flag value as a shell word: quoted when it holds anything but safe characters. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_.,:/@%+=[\]-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function lxcNetLines(f: LxcNetFlags): string[] {
  const flags = [
    `--bridge ${shellWord(f.bridge)}`,
    `--bridge-mac ${f['bridge-mac']}`,
    `--address ${f.address}`,
    `--range ${f.range}`,
    ...(f['lease-time'] === undefined ? [] : [`--lease-time ${f['lease-time']}`]),
    `--domain ${shellWord(f.domain)}`,
    ...(f['bare-names'] ? ['--bare-names'] : []),
    f.probe ? '--probe' : '--no-probe',
    `--ipv6 ${f.ipv6}`,
    ...(f.nat6 === undefined ? [] : [f.nat6 ? '--nat6' : '--no-nat6']),
  ];
  return ['lxc-net settings serve as:', ...flags.map((l) => `  ${l}`), ...(f['dnsmasq-conf'] === null ? [] : [`  (dnsmasq conf: ${f['dnsmasq-conf']})`])];
}

function recordData(r: DnsmasqSettings['records'][number]): string {
  if (r.type === 'TXT') return r.data.join('');
  if (r.type === 'SRV') return `${r.data.priority} ${r.data.weight} ${r.data.port} ${r.data.target}`;
  return r.data;
}

function dnsmasqLines(s: DnsmasqSettings, file: string): string[] {
  const flags = [
    ...(s.range === null ? [] : [`--range ${formatIPv4(s.range.first)}-${formatIPv4(s.range.last)}`]),
    ...(s.range?.leaseSeconds == null ? [] : [`--lease-time ${s.range.leaseSeconds}`]),
    ...(s.domain === null ? [] : [`--domain ${s.domain}`]),
    ...(s.ping ? [] : ['--no-probe']),
    ...s.reservations.map((r) => `--host ${r.mac},${formatIPv4(r.ip)}${r.ip6 === undefined ? '' : `,[${r.ip6}]`}${r.name === null ? '' : `,${r.name}`}`),
    ...s.nameReservations.map((r) => `--host ${r.name},${formatIPv4(r.ip)}`),
    ...s.records.map((r) => `--dns-record ${shellWord(`${r.name},${r.type},${recordData(r)}`)}`),
    ...s.upstreams.map((u) => `--upstream ${u.family === 6 ? `[${u.address}]` : u.address}:${u.port}`),
    ...(s.noResolv && s.upstreams.length === 0 ? ['(no-resolv without server=: no upstream DNS)'] : []),
    ...s.routes.map((r) => `--route ${formatIPv4(r.destination)}/${r.prefixLength},${formatIPv4(r.gateway)}`),
    ...(s.leaseMax === null ? [] : [`(dhcp-lease-max=${s.leaseMax}: no cap in lxc-dhcpd, the range bounds the leases)`]),
  ];
  return [`${file} serves as:`, ...(flags.length === 0 ? ['  (nothing)'] : flags.map((l) => `  ${l}`))];
}

function unsupportedLines(list: readonly UnsupportedLine[]): string[] {
  if (list.length === 0) return [];
  return [`not served (${list.length} line${list.length === 1 ? '' : 's'}):`, ...list.map((u) => `  ${u.file}:${u.line}: ${u.option}: ${u.reason}`)];
}

/** The whole report; either part may be absent. */
export function checkConfigReport(lxcNet: LxcNetFlags | null, conf: { file: string; settings: DnsmasqSettings } | null): string {
  const lines = [
    ...(lxcNet === null ? [] : lxcNetLines(lxcNet)),
    ...(lxcNet === null || lxcNet.notes.length === 0 ? [] : ['served differently from lxc-net:', ...lxcNet.notes.map((n) => `  ${n}`)]),
    ...(conf === null ? [] : dnsmasqLines(conf.settings, conf.file)),
    ...(conf === null ? [] : unsupportedLines(conf.settings.unsupported)),
  ];
  return `${lines.join('\n')}\n`;
}
