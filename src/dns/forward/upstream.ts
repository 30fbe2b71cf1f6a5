// Upstream DNS servers: the `--upstream IP[:PORT]` parser and the address normalisation that
// reply matching relies on (a reply's source address is compared with the upstream's as text).
import { isIPv4, isIPv6 } from 'node:net';

export const DNS_PORT = 53;

export interface Upstream {
  /** Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, compressed), with `%zone` kept if given. */
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** "1.2.3.4:53" or "[::1]:53": how an upstream is shown in logs and errors. */
export function formatUpstream(upstream: Upstream): string {
  return upstream.family === 6 ? `[${upstream.address}]:${upstream.port}` : `${upstream.address}:${upstream.port}`;
}

/**
 * The one text form of an IP address, or null when `text` is not one. IPv4 must be a strict dotted
 * quad (no leading zeros, which some resolvers read as octal). IPv6 is compressed the RFC 5952 way,
 * which the WHATWG URL parser implements; an optional `%zone` suffix is kept as is.
 */
export function canonicalAddress(text: string): { address: string; family: 4 | 6 } | null {
  if (isIPv4(text)) return { address: text, family: 4 };
  const zoneStart = text.indexOf('%');
  const bare = zoneStart === -1 ? text : text.slice(0, zoneStart);
  const zone = zoneStart === -1 ? '' : text.slice(zoneStart);
  if (!isIPv6(bare) || zone === '%' || /[\s[\]]/.test(zone)) return null;
  const hostname = new URL(`http://[${bare}]/`).hostname;
  return { address: hostname.slice(1, -1) + zone, family: 6 };
}

function parsePort(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`invalid upstream "${whole}": port "${text}" is not a number 1-65535`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new Error(`invalid upstream "${whole}": port ${port} is not in 1-65535`);
  return port;
}

/**
 * Parses `IP`, `IP:PORT`, `IPv6` or `[IPv6]:PORT` (the `--upstream` syntax). Pure; throws an Error
 * with a one-line message for anything else (host names are refused: we would need DNS to find DNS).
 */
export function parseUpstream(text: string): Upstream {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('invalid upstream "": expected IP or IP:PORT');
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(trimmed);
  if (bracketed) {
    const parsed = canonicalAddress(bracketed[1] ?? '');
    if (parsed === null || parsed.family !== 6) {
      throw new Error(`invalid upstream "${trimmed}": only an IPv6 address goes inside [ ]`);
    }
    const port = bracketed[2] === undefined ? DNS_PORT : parsePort(bracketed[2], trimmed);
    return { ...parsed, port };
  }
  const whole = canonicalAddress(trimmed);
  if (whole !== null) return { ...whole, port: DNS_PORT };
  const lastColon = trimmed.lastIndexOf(':');
  if (lastColon !== -1 && trimmed.indexOf(':') === lastColon) {
    const host = canonicalAddress(trimmed.slice(0, lastColon));
    if (host !== null && host.family === 4) return { ...host, port: parsePort(trimmed.slice(lastColon + 1), trimmed) };
  }
  throw new Error(`invalid upstream "${trimmed}": expected IPv4[:PORT], IPv6 or [IPv6]:PORT`);
}
