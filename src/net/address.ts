/** IPv4 addresses are handled as unsigned 32-bit numbers in host order; MACs as lowercase colon-separated strings. */

export type IPv4 = number;

const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad text; returns null for anything that is not exactly four octets 0-255. */
export function parseIPv4(text: string): IPv4 | null {
  const m = IPV4_PATTERN.exec(text);
  if (!m) return null;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function formatIPv4(ip: IPv4): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function prefixToMask(prefixLength: number): IPv4 {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function networkOf(ip: IPv4, prefixLength: number): IPv4 {
  return (ip & prefixToMask(prefixLength)) >>> 0;
}

export function broadcastOf(ip: IPv4, prefixLength: number): IPv4 {
  return (networkOf(ip, prefixLength) | (~prefixToMask(prefixLength) >>> 0)) >>> 0;
}

export function inSubnet(ip: IPv4, network: IPv4, prefixLength: number): boolean {
  return networkOf(ip, prefixLength) === networkOf(network, prefixLength);
}

const MAC_PATTERN = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

/** Normalises "AA-BB-..." or "aa:bb:..." to "aa:bb:cc:dd:ee:ff"; null when it is not a 6-byte MAC. */
export function parseMac(text: string): string | null {
  if (!MAC_PATTERN.test(text)) return null;
  return text.toLowerCase().replace(/-/g, ':');
}

export function macFromBytes(bytes: Uint8Array, offset = 0): string {
  let out = '';
  for (let i = 0; i < 6; i++) {
    const b = bytes[offset + i] ?? 0;
    out += (i ? ':' : '') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return out;
}

export function macToBytes(mac: string): Buffer {
  const out = Buffer.alloc(6);
  writeMac(out, 0, mac);
  return out;
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  const lower = code | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : 0; // a-f
}

/**
 * Writes a MAC in "aa:bb:cc:dd:ee:ff" (or "-"-separated) form as 6 bytes at `offset`, without allocating: it runs
 * for every frame we send. Non-hex digits read as 0; MACs are validated where they enter (parseMac, received frames).
 */
export function writeMac(out: Uint8Array, offset: number, mac: string): void {
  for (let i = 0; i < 6; i++) {
    out[offset + i] = (hexDigit(mac.charCodeAt(i * 3)) << 4) | hexDigit(mac.charCodeAt(i * 3 + 1));
  }
}
