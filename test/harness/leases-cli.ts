/** Reads the lease table the way an operator does: `lxc-dhcpd leases --json`. */
import type { LeaseRow } from '../../src/leases/report.ts';
import { LXC_DHCPD_BIN } from './lxc-dhcpd.ts';
import { runChecked } from './netns.ts';

export type { LeaseRow };

export async function leasesJson(leaseDb: string, all = false): Promise<LeaseRow[]> {
  const argv = [process.execPath, LXC_DHCPD_BIN, 'leases', '--json', '--lease-db', leaseDb, ...(all ? ['--all'] : [])];
  const result = await runChecked(argv, { timeoutMs: 15_000 });
  return JSON.parse(result.stdout) as LeaseRow[];
}
