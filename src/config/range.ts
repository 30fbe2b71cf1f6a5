/** `--range` parsing and checks against the bridge subnet. Errors are one sentence saying what is wrong and what to do. */
import { broadcastOf, formatIPv4, type IPv4, inSubnet, networkOf, parseIPv4 } from '../net/address.ts';
import { type Checked, fail, ok } from '../result.ts';

export interface AddressRange {
  first: IPv4;
  last: IPv4;
}

/** Accepts "10.0.0.100-200" (last-octet shorthand) and "10.0.0.100-10.0.0.200". */
export function parseRange(text: string): Checked<AddressRange> {
  const parts = text.split('-');
  const usage = `use --range FIRST-LAST, e.g. 10.0.0.100-200 or 10.0.0.100-10.0.0.200`;
  if (parts.length !== 2) return fail(`--range ${JSON.stringify(text)} is not a range: ${usage}`);
  const [firstText, lastText] = parts as [string, string];
  const first = parseIPv4(firstText.trim());
  if (first === null) return fail(`--range: ${JSON.stringify(firstText)} is not an IPv4 address: ${usage}`);
  let last: IPv4 | null;
  if (/^\d{1,3}$/.test(lastText.trim())) {
    const octet = Number(lastText.trim());
    last = octet <= 255 ? ((first & 0xffffff00) | octet) >>> 0 : null;
  } else {
    last = parseIPv4(lastText.trim());
  }
  if (last === null) return fail(`--range: ${JSON.stringify(lastText)} is not an IPv4 address or last octet: ${usage}`);
  if (first > last) {
    return fail(`--range ${formatIPv4(first)}-${formatIPv4(last)} is reversed: put the lower address first`);
  }
  return ok({ first, last });
}

/** Checks that the range fits the bridge's subnet and leaves out the network, broadcast and bridge addresses. */
export function checkRangeInSubnet(range: AddressRange, bridgeIp: IPv4, prefixLength: number): string | null {
  const subnet = `${formatIPv4(networkOf(bridgeIp, prefixLength))}/${prefixLength}`;
  const text = `${formatIPv4(range.first)}-${formatIPv4(range.last)}`;
  if (!inSubnet(range.first, bridgeIp, prefixLength) || !inSubnet(range.last, bridgeIp, prefixLength)) {
    return `--range ${text} is outside the bridge subnet ${subnet}: choose addresses inside it`;
  }
  if (bridgeIp >= range.first && bridgeIp <= range.last) {
    return `--range ${text} contains the bridge address ${formatIPv4(bridgeIp)}: start the range above it`;
  }
  if (range.first === networkOf(bridgeIp, prefixLength) || range.last === broadcastOf(bridgeIp, prefixLength)) {
    return `--range ${text} includes the network or broadcast address of ${subnet}: keep it strictly inside`;
  }
  return null;
}
