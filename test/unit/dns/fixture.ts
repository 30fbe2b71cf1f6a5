/** A DnsServer on 10.0.0.1/24 for zone `lxc` with `test` leased at 10.0.0.100 (and optionally `web` reserved). */
import { HostNames } from '../../../src/leases/names.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { LocalZones } from '../../../src/dns/zone.ts';
import { DnsServer, type Recursor } from '../../../src/dns/server.ts';

export const ip = (t: string): number => parseIPv4(t) as number;

export function makeDnsServer(recursor: Recursor | null, opts: { now?: number; reserveWeb?: boolean } = {}): DnsServer {
  const now = opts.now ?? Date.now();
  const names = new HostNames();
  if (opts.reserveWeb) names.setReservations([{ mac: '02:00:00:00:00:05', ip: ip('10.0.0.5'), name: 'web' }]);
  names.claim('02:1a:b0:00:00:01', ip('10.0.0.100'), 'test', now + 3_600_000);
  const zones = new LocalZones({ domain: 'lxc', serverIp: ip('10.0.0.1'), prefixLength: 24, soaTtl: 30, recordTtl: 30 }, names, () => now);
  return new DnsServer({
    address: ip('10.0.0.1'),
    port: 0,
    subnet: { ip: ip('10.0.0.1'), prefixLength: 24 },
    zones,
    recursor,
    log: { warn: () => undefined, debug: () => undefined },
  });
}
