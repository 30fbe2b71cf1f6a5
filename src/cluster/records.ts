/**
 * The cluster's vocabulary in etcd (docs/cluster.md, the contract of issue 16): the key layout under CLUSTER_PREFIX,
 * the two JSON records (a host, a name) and their codecs. Everything read from etcd is hostile input — another host
 * may run a buggy or older daemon, anyone with etcd write access may put anything there — so parsing never throws: it
 * returns the record or a named reason, and checks every field (label syntax, CIDR, address family, sizes).
 */
import { formatIPv4, type IPv4, networkOf, parseIPv4 } from '../net/address.ts';
import { canonicalIPv6, parseIPv6, prefixOf } from '../net/address6.ts';
import { isDnsLabel, isDomainName } from '../net/dns-name.ts';
import { type Checked, fail } from '../result.ts';

/** Every key of ours starts here; `v1` changes if a record's meaning ever changes incompatibly. */
export const CLUSTER_PREFIX = '/lxc-dhcpd/v1/';
const HOSTS_PREFIX = `${CLUSTER_PREFIX}hosts/`;
const NAMES_PREFIX = `${CLUSTER_PREFIX}names/`;
/** Largest record value accepted (the contract: each ≤ 4 KiB); a bigger one is dropped unread. */
export const MAX_RECORD_BYTES = 4096;
/**
 * Addresses of one kind in a name record: a container has one IPv4 address and, with SLAAC privacy addresses, a few
 * IPv6 ones (src/leases/learned6.ts keeps at most 8 per MAC); more is not a name we gave out.
 */
const MAX_ADDRESSES_PER_NAME = 8;
/** Record format version (the `v` field). */
const RECORD_VERSION = 1;

/** An interface name (IFNAMSIZ 16 with its NUL). */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export type NameKind = 'reservation' | 'lease';

export interface HostRecord {
  readonly host: string;
  readonly bridge: string;
  readonly network: IPv4;
  readonly prefixLength: number;
  /** The /64 (or other prefix) of the host's bridge, RFC 5952 text + length; null without IPv6. */
  readonly prefix6: { readonly network: string; readonly prefixLength: number } | null;
  /** The address other hosts route the subnet to. */
  readonly address: IPv4;
  readonly domain: string;
}

export interface NameRecord {
  readonly name: string;
  readonly host: string;
  readonly kind: NameKind;
  readonly a: readonly IPv4[];
  /** RFC 5952 text. */
  readonly aaaa: readonly string[];
}

/** A named reason (the view counts drops by it). */
const bad = <T>(reason: string): Checked<T> => fail(reason);

/** A label as the daemon gives names out: an RFC 1123 label (src/net/dns-name.ts), lower case. */
export function isLabel(text: string): boolean {
  return isDnsLabel(text) && text === text.toLowerCase();
}

export function hostKey(host: string): string {
  return `${HOSTS_PREFIX}${host}`;
}

export function nameKey(name: string): string {
  return `${NAMES_PREFIX}${name}`;
}

/** Which record a key names: a host, a name, or neither (another program's key, a bad label). */
export function classifyKey(key: string): { kind: 'host' | 'name'; label: string } | null {
  const kind = key.startsWith(HOSTS_PREFIX) ? 'host' : key.startsWith(NAMES_PREFIX) ? 'name' : null;
  if (kind === null) return null;
  const label = key.slice(kind === 'host' ? HOSTS_PREFIX.length : NAMES_PREFIX.length);
  return isLabel(label) ? { kind, label } : null;
}

/** "10.0.3.0/24" → the network (must be the network address itself) and length 1–30. */
export function parseSubnet4(text: string): { network: IPv4; prefixLength: number } | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  const prefixLength = /^\d{1,2}$/.test(lengthText) ? Number(lengthText) : Number.NaN;
  if (ip === null || !(prefixLength >= 1 && prefixLength <= 30) || networkOf(ip, prefixLength) !== ip) return null;
  return { network: ip, prefixLength };
}

export function formatSubnet4(network: IPv4, prefixLength: number): string {
  return `${formatIPv4(network)}/${prefixLength}`;
}

/** "fd12:3456:789a:1::/64" → canonical network text and length 8–128 (the network address itself). */
export function parsePrefix6(text: string): { network: string; prefixLength: number } | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIPv6(text.slice(0, slash));
  const network = canonicalIPv6(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  const prefixLength = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : Number.NaN;
  if (address === null || network === null || !(prefixLength >= 8 && prefixLength <= 128)) return null;
  if (!prefixOf(address, prefixLength).equals(address)) return null;
  return { network, prefixLength };
}

/** Two IPv4 subnets overlap when the shorter prefix holds the other's network. */
export function subnetsOverlap(a: { network: IPv4; prefixLength: number }, b: { network: IPv4; prefixLength: number }): boolean {
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  return networkOf(a.network, shorter) === networkOf(b.network, shorter);
}

/** Two IPv6 prefixes overlap when the shorter prefix holds the other's network. */
export function prefixes6Overlap(a: { network: string; prefixLength: number }, b: { network: string; prefixLength: number }): boolean {
  const x = parseIPv6(a.network);
  const y = parseIPv6(b.network);
  if (x === null || y === null) return false;
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  return prefixOf(x, shorter).equals(prefixOf(y, shorter));
}

/** The JSON object of a value, or a reason (size, encoding, syntax, version). */
function jsonObject(value: Buffer): Checked<Record<string, unknown>> {
  if (value.length > MAX_RECORD_BYTES) return bad('too-large');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(value));
  } catch {
    return bad('not-json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('not-an-object');
  const record = parsed as Record<string, unknown>;
  if (record.v !== RECORD_VERSION) return bad('version');
  return { ok: true, value: record };
}

function text(record: Record<string, unknown>, field: string): string | null {
  const value = record[field];
  return typeof value === 'string' ? value : null;
}

/** A host record read from the key of `label`; the record's own `host` must be the key's label. */
export function parseHostRecord(label: string, value: Buffer): Checked<HostRecord> {
  const json = jsonObject(value);
  if (!json.ok) return json;
  const r = json.value;
  if (text(r, 'host') !== label) return bad('host-mismatch');
  const bridge = text(r, 'bridge');
  if (bridge === null || !IFNAME.test(bridge)) return bad('bridge');
  const subnet = parseSubnet4(text(r, 'subnet4') ?? '');
  if (subnet === null) return bad('subnet4');
  const prefix6Text = r.prefix6 ?? null;
  const prefix6 = prefix6Text === null ? null : typeof prefix6Text === 'string' ? parsePrefix6(prefix6Text) : null;
  if (prefix6Text !== null && prefix6 === null) return bad('prefix6');
  const address = parseIPv4(text(r, 'address') ?? '');
  if (address === null || address === 0) return bad('address');
  const domain = text(r, 'domain');
  if (domain === null || !isDomainName(domain) || domain !== domain.toLowerCase()) return bad('domain');
  return { ok: true, value: { host: label, bridge, ...subnet, prefix6, address, domain } };
}

export function encodeHostRecord(h: HostRecord): string {
  return JSON.stringify({
    v: RECORD_VERSION,
    host: h.host,
    bridge: h.bridge,
    subnet4: formatSubnet4(h.network, h.prefixLength),
    prefix6: h.prefix6 === null ? null : `${h.prefix6.network}/${h.prefix6.prefixLength}`,
    address: formatIPv4(h.address),
    domain: h.domain,
  });
}

function addressList<T>(value: unknown, parse: (text: string) => T | null): T[] | null {
  if (!Array.isArray(value) || value.length > MAX_ADDRESSES_PER_NAME) return null;
  const out: T[] = [];
  for (const item of value) {
    const parsed = typeof item === 'string' ? parse(item) : null;
    if (parsed === null) return null;
    out.push(parsed);
  }
  return out;
}

/** A name record read from the key of `label`; the record's own `name` must be the key's label. */
export function parseNameRecord(label: string, value: Buffer): Checked<NameRecord> {
  const json = jsonObject(value);
  if (!json.ok) return json;
  const r = json.value;
  if (text(r, 'name') !== label) return bad('name-mismatch');
  const host = text(r, 'host');
  if (host === null || !isLabel(host)) return bad('host');
  const kind = text(r, 'kind');
  if (kind !== 'reservation' && kind !== 'lease') return bad('kind');
  const a = addressList(r.a, (t) => {
    const ip = parseIPv4(t);
    return ip === null || ip === 0 ? null : ip;
  });
  if (a === null) return bad('a');
  const aaaa = addressList(r.aaaa ?? [], canonicalIPv6);
  if (aaaa === null) return bad('aaaa');
  if (a.length === 0 && aaaa.length === 0) return bad('no-address');
  return { ok: true, value: { name: label, host, kind, a, aaaa } };
}

export function encodeNameRecord(n: NameRecord): string {
  return JSON.stringify({ v: RECORD_VERSION, name: n.name, host: n.host, kind: n.kind, a: n.a.map(formatIPv4), aaaa: n.aaaa });
}

/** Whether two name records say the same (the publisher re-writes a key only when they differ). */
export function sameNameRecord(x: NameRecord, y: NameRecord): boolean {
  return encodeNameRecord(x) === encodeNameRecord(y);
}
