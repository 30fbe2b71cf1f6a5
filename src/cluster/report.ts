/**
 * `lxc-dhcpd cluster`: what the running daemon knows of the cluster (hosts with subnet, address and last seen, the
 * names each holds, the names given out here that another host holds), as JSON over the control socket and as the
 * table the command prints. Built from the view and the publisher, read by the CLI; no etcd call.
 */
import { formatIPv4 } from '../net/address.ts';
import { formatSubnet4, type NameRecord } from './records.ts';
import type { ClusterView } from './view.ts';

export interface ClusterReport {
  self: string;
  /** Whether etcd answers now (false: names are answered from the last view). */
  connected: boolean;
  hosts: {
    host: string;
    subnet4: string;
    prefix6: string | null;
    address: string;
    /** ISO 8601. */
    lastSeen: string;
    names: { name: string; kind: string; a: string[]; aaaa: string[] }[];
  }[];
  /** Names this daemon gives out that another host holds cluster-wide (not published; answered locally only). */
  lost: { name: string; holder: string }[];
}

function nameRow(n: NameRecord): ClusterReport['hosts'][number]['names'][number] {
  return { name: n.name, kind: n.kind, a: n.a.map(formatIPv4), aaaa: [...n.aaaa] };
}

export function clusterReport(view: ClusterView, connected: boolean, lost: ReadonlyMap<string, string>): ClusterReport {
  const byHost = new Map<string, NameRecord[]>();
  for (const n of view.nameList()) {
    const list = byHost.get(n.host) ?? [];
    list.push(n);
    byHost.set(n.host, list);
  }
  const hosts = view
    .hostList()
    .sort((x, y) => (x.record.host < y.record.host ? -1 : 1))
    .map(({ record, lastSeen }) => ({
      host: record.host,
      subnet4: formatSubnet4(record.network, record.prefixLength),
      prefix6: record.prefix6 === null ? null : `${record.prefix6.network}/${record.prefix6.prefixLength}`,
      address: formatIPv4(record.address),
      lastSeen: new Date(lastSeen).toISOString(),
      names: (byHost.get(record.host) ?? []).sort((x, y) => (x.name < y.name ? -1 : 1)).map(nameRow),
    }));
  return { self: view.self, connected, hosts, lost: [...lost].map(([name, holder]) => ({ name, holder })) };
}

/** The report as the command prints it: one block per host, its names indented. */
export function formatClusterReport(r: ClusterReport): string {
  const lines = [`cluster as seen by ${r.self}: etcd ${r.connected ? 'connected' : 'UNREACHABLE (answering from the last view)'}`];
  for (const h of r.hosts) {
    const me = h.host === r.self ? ' (this host)' : '';
    lines.push(
      `${h.host}${me}  subnet ${h.subnet4}${h.prefix6 ? ` ${h.prefix6}` : ''}  address ${h.address}  last seen ${h.lastSeen}  ${h.names.length} names`,
    );
    for (const n of h.names) lines.push(`  ${n.name.padEnd(24)} ${n.kind.padEnd(11)} ${[...n.a, ...n.aaaa].join(' ')}`);
  }
  for (const l of r.lost) lines.push(`name ${l.name} is given out here but held by ${l.holder} cluster-wide (not published)`);
  return `${lines.join('\n')}\n`;
}
