/** The bridge address chosen when the user gives only --range. Pure. */
import type { AddressRange } from '../config/range.ts';
import { broadcastOf, formatIPv4, type IPv4, inSubnet, networkOf } from '../net/address.ts';
import type { Checked } from '../result.ts';

interface BridgeAddressChoice {
  ip: IPv4;
  prefixLength: number;
}

const DEFAULT_BRIDGE_PREFIX_LENGTH = 24;

/**
 * The first host address of the /24 (or of the /prefixLength given) that contains the whole range,
 * e.g. 10.0.0.100-200 → 10.0.0.1/24. When the range starts at that address, the last host address is
 * used instead (10.0.0.1-200 → 10.0.0.254/24); when the range covers both, there is no free choice.
 */
export function defaultBridgeAddress(range: AddressRange, prefixLength: number = DEFAULT_BRIDGE_PREFIX_LENGTH): Checked<BridgeAddressChoice> {
  if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 30) {
    return { ok: false, error: `--netmask /${prefixLength} leaves no room for a bridge and containers: use a prefix length from 1 to 30` };
  }
  const text = `${formatIPv4(range.first)}-${formatIPv4(range.last)}`;
  const network = networkOf(range.first, prefixLength);
  const subnet = `${formatIPv4(network)}/${prefixLength}`;
  if (!inSubnet(range.last, network, prefixLength)) {
    return { ok: false, error: `--range ${text} does not fit in one /${prefixLength} (it starts in ${subnet}): shorten the range or give a shorter --netmask` };
  }
  const firstHost = (network + 1) >>> 0;
  const lastHost = (broadcastOf(network, prefixLength) - 1) >>> 0;
  const inRange = (ip: IPv4): boolean => ip >= range.first && ip <= range.last;
  if (range.first === network || range.last === broadcastOf(network, prefixLength)) {
    return { ok: false, error: `--range ${text} contains the network or broadcast address of ${subnet}: leave them out` };
  }
  if (!inRange(firstHost)) return { ok: true, value: { ip: firstHost, prefixLength } };
  if (!inRange(lastHost)) return { ok: true, value: { ip: lastHost, prefixLength } };
  return { ok: false, error: `--range ${text} covers every address of ${subnet}: leave one free for the bridge` };
}
