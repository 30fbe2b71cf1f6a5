/**
 * Reads a dnsmasq conf file (lxc-net's LXC_DHCP_CONFILE, or `--dnsmasq-conf FILE`) for the options LXC users put
 * there, into lxc-dhcpd's own model: MAC reservations (`Reservation`), name reservations, static DNS records
 * (`StaticRecord`, as `--dns-record` would give them), upstreams, routes, the range and domain. Syntax of dnsmasq(8)'s
 * CONFIG FILE section: `option=value` or a bare `option`, `#` comments (a line's start, or after whitespace outside
 * quotes), double quotes around a value with `\\ \" \t \n` escapes. Every other option, and every part of an option
 * we cannot serve, goes to `unsupported` with file, line and reason (reported once at start, never dropped silently);
 * a value that is wrong is one error naming file and line.
 */

import type { StaticRoute } from '../dhcp/routes.ts';
import { parseUpstream, type Upstream } from '../dns/forward/upstream.ts';
import { formatIPv4 } from '../net/address.ts';
import { isDomainName } from '../net/dns-name.ts';
import { type Checked, fail, ok } from '../result.ts';
import { parseDnsRecord, type StaticRecord } from './dns-records.ts';
import { parseDhcpHost, parseDhcpOption } from './dnsmasq-dhcp.ts';
import { type DhcpRange, parseDhcpRange } from './dnsmasq-values.ts';
import type { NameReservation } from './reservations.ts';
import { checkReservationConflicts, type Reservation } from './reservations.ts';

/** A conf file larger than this is no hand-written LXC file: 1 MiB holds some 20 000 dhcp-host lines. */
export const MAX_DNSMASQ_CONF_BYTES = 1024 * 1024;
/** The longest line read; dnsmasq's own line buffer is of the same order, and a TXT record is at most 1024 bytes. */
export const MAX_DNSMASQ_LINE_LENGTH = 4096;

export interface UnsupportedLine {
  file: string;
  line: number;
  option: string;
  reason: string;
}

export interface DnsmasqSettings {
  reservations: Reservation[];
  nameReservations: NameReservation[];
  /** The dhcp-range; null: none in the file. */
  range: DhcpRange | null;
  /** domain= or dhcp-option 15; null: none in the file. */
  domain: string | null;
  records: StaticRecord[];
  upstreams: Upstream[];
  noResolv: boolean;
  routes: StaticRoute[];
  leaseMax: number | null;
  /** false with no-ping. */
  ping: boolean;
  unsupported: UnsupportedLine[];
}

/** The parse in progress: settings, records waiting for the final domain, and where we are. */
interface State {
  s: DnsmasqSettings;
  records: { line: number; text: string }[];
  locals: { line: number; domain: string }[];
  search: { line: number; domains: string[] }[];
  file: string;
  line: number;
  option: string;
}

type Handler = (st: State, value: string) => string | null;

function unsupported(st: State, reason: string): null {
  st.s.unsupported.push({ file: st.file, line: st.line, option: st.option, reason });
  return null;
}

/** Splits a value at commas outside double quotes, removing the quotes and their escapes; null when a quote is open. */
function splitFields(value: string): string[] | null {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  const escapes: Record<string, string> = { '\\': '\\', '"': '"', t: '\t', n: '\n', r: '\r', e: '\x1b', b: '\b' };
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (quoted && ch === '\\' && (value[i + 1] ?? '') in escapes) current += escapes[value[++i] as string];
    else if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(current.trim());
      current = '';
    } else current += ch;
  }
  fields.push(current.trim());
  return quoted ? null : fields;
}

function record(st: State, name: string, type: string, data: string): null {
  st.records.push({ line: st.line, text: `${name},${type},${data}` });
  return null;
}

const onAddress: Handler = (st, value) => {
  const m = /^\/(.+)\/([^/]*)$/.exec(value);
  if (m === null) return 'is not /NAME/ADDRESS';
  const ip = m[2] as string;
  const names = (m[1] as string).split('/');
  if (ip === '' || ip === '#' || names.includes('#')) return unsupported(st, 'NXDOMAIN, null and catch-all answers are not supported');
  for (const name of names) record(st, name, ip.includes(':') ? 'AAAA' : 'A', ip);
  return unsupported(st, `answers ${names.join(', ')} exactly, not their subdomains`);
};

const onHostRecord: Handler = (st, value) => {
  const fields = splitFields(value) ?? [];
  const ttl = /^\d+$/.test(fields[fields.length - 1] ?? '') && fields.length > 2 ? fields.pop() : undefined;
  const ips = fields.filter((f) => /^[\d.]+$|:/.test(f));
  const names = fields.filter((f) => !ips.includes(f));
  if (ips.length === 0 || names.length === 0 || ips.length > 2) return 'is not NAME[,NAME...],IPV4[,IPV6][,TTL]';
  for (const name of names) for (const ip of ips) record(st, name, ip.includes(':') ? 'AAAA' : 'A', ip);
  return ttl === undefined ? null : unsupported(st, `the TTL ${ttl}: records are served with lxc-dhcpd's TTL`);
};

const onCname: Handler = (st, value) => {
  const fields = splitFields(value) ?? [];
  const ttl = fields.length > 2 && /^\d+$/.test(fields[fields.length - 1] as string) ? fields.pop() : undefined;
  if (fields.length < 2) return 'is not ALIAS[,ALIAS...],TARGET';
  const target = fields.pop() as string;
  for (const alias of fields) record(st, alias, 'CNAME', target);
  return ttl === undefined ? null : unsupported(st, `the TTL ${ttl}: records are served with lxc-dhcpd's TTL`);
};

const onTxt: Handler = (st, value) => {
  const fields = splitFields(value);
  if (fields === null) return 'has an unclosed quote';
  const [name, ...texts] = fields;
  for (const text of texts.length > 0 ? texts : ['']) record(st, name as string, 'TXT', text);
  return null;
};

const onSrv: Handler = (st, value) => {
  const [name, target, port = '1', priority = '0', weight = '0', ...rest] = splitFields(value) ?? [];
  if (name === undefined || rest.length > 0) return 'is not _SERVICE._PROTO[.DOMAIN],TARGET[,PORT[,PRIORITY[,WEIGHT]]]';
  if (target === undefined || target === '') return unsupported(st, 'an SRV record without a target ("no such service") is not supported');
  return record(st, name, 'SRV', `${priority} ${weight} ${port} ${target}`);
};

/** `server=`/`local=`: `IP[#PORT]` is an upstream; `/DOMAIN/` alone is a local domain; the rest is unsupported. */
const onServer: Handler = (st, value) => {
  const m = /^\/(.*)\/(.*)$/.exec(value);
  if (m !== null) {
    if (m[2] !== '') return unsupported(st, 'forwarding one domain to its own server is not supported');
    for (const domain of (m[1] as string).split('/')) st.locals.push({ line: st.line, domain: domain.toLowerCase() });
    return null;
  }
  if (value.includes('@')) return unsupported(st, 'a source address or interface for an upstream is not supported');
  const hash = value.lastIndexOf('#');
  const address = hash < 0 ? value : value.slice(0, hash);
  const text = hash < 0 ? address : address.includes(':') ? `[${address}]:${value.slice(hash + 1)}` : `${address}:${value.slice(hash + 1)}`;
  try {
    st.s.upstreams.push(parseUpstream(text));
    return null;
  } catch (e) {
    return (e as Error).message.replace(/^invalid upstream "[^"]*": /, 'is not an upstream: ');
  }
};

const onDomain: Handler = (st, value) => {
  const [domain, ...rest] = value.split(',').map((f) => f.trim());
  if (domain === undefined || !isDomainName(domain)) return 'is not a domain name (e.g. lxc)';
  st.s.domain = domain.toLowerCase();
  return rest.length === 0 ? null : unsupported(st, `the address range ${rest.join(',')}: the domain applies to the whole bridge`);
};

const onRange: Handler = (st, value) => {
  if (st.s.range !== null) return unsupported(st, 'a second dhcp-range: lxc-dhcpd serves one range per bridge');
  const range = parseDhcpRange(value);
  if (range.ok) st.s.range = range.value;
  else if (/tags|IPv6|mode/.test(range.error)) return unsupported(st, range.error.replace(/^"[^"]*": /, ''));
  return range.ok ? null : range.error;
};

const onHost: Handler = (st, value) => {
  const parsed = parseDhcpHost(value);
  if (!parsed.ok) return parsed.error;
  if (parsed.value.reservation !== null) st.s.reservations.push(parsed.value.reservation);
  if (parsed.value.nameReservation !== null) st.s.nameReservations.push(parsed.value.nameReservation);
  for (const reason of parsed.value.unsupported) unsupported(st, reason);
  return null;
};

const onOption: Handler = (st, value) => {
  const parsed = parseDhcpOption(value);
  if (!parsed.ok) return parsed.error;
  const o = parsed.value;
  if (o.kind === 'unsupported') return unsupported(st, o.reason);
  if (o.kind === 'routes') st.s.routes.push(...o.routes);
  if (o.kind === 'domain') return onDomain(st, o.domain);
  if (o.kind === 'search') st.search.push({ line: st.line, domains: o.domains.map((d) => d.toLowerCase()) });
  return null;
};

const onLeaseMax: Handler = (st, value) => {
  if (!/^\d{1,7}$/.test(value) || Number(value) === 0) return 'is not a number of leases';
  st.s.leaseMax = Number(value);
  return null;
};

const flag =
  (set: (s: DnsmasqSettings) => void): Handler =>
  (st, value) => {
    if (value !== '') return 'takes no value';
    set(st.s);
    return null;
  };

const HANDLERS: Readonly<Record<string, Handler>> = {
  'dhcp-host': onHost,
  'dhcp-range': onRange,
  'dhcp-option': onOption,
  'dhcp-lease-max': onLeaseMax,
  domain: onDomain,
  local: (st, value) => onServer(st, value),
  server: onServer,
  address: onAddress,
  'host-record': onHostRecord,
  cname: onCname,
  'txt-record': onTxt,
  'srv-host': onSrv,
  'no-resolv': flag((s) => {
    s.noResolv = true;
  }),
  'no-ping': flag((s) => {
    s.ping = false;
  }),
  'conf-file': (st) => unsupported(st, 'included files are not read: give each with --dnsmasq-conf'),
  'conf-dir': (st) => unsupported(st, 'included directories are not read: give each file with --dnsmasq-conf'),
};

/** Options lxc-dhcpd does not read because it behaves so already (docs/migrating.md); still listed, with this reason. */
const ALREADY: Readonly<Record<string, string>> = {
  interface: 'lxc-dhcpd serves only its --bridge',
  'except-interface': 'lxc-dhcpd serves only its --bridge',
  'listen-address': 'lxc-dhcpd serves only its --bridge',
  'bind-interfaces': 'lxc-dhcpd serves only its --bridge',
  'dhcp-authoritative': 'always on in lxc-dhcpd',
  'dhcp-rapid-commit': 'on by default in lxc-dhcpd (--no-rapid-commit)',
  'log-dhcp': 'use --log-level debug',
  'dhcp-leasefile': 'leases are in --lease-db; import this file once with lxc-dhcpd import-dnsmasq',
};

/** `option=value` of one line with its comment removed, or null for a blank or comment line. */
function optionOf(text: string): { option: string; value: string } | null {
  let quoted = false;
  let end = text.length;
  for (let i = 0; i < text.length; i++) {
    if (quoted && text[i] === '\\') i++;
    else if (text[i] === '"') quoted = !quoted;
    if (text[i] === '#' && !quoted && (i === 0 || /\s/.test(text[i - 1] as string))) {
      end = i;
      break;
    }
  }
  const line = text.slice(0, end).trim();
  if (line === '') return null;
  const eq = line.indexOf('=');
  return eq < 0 ? { option: line, value: '' } : { option: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() };
}

function readLines(text: string, st: State): string | null {
  for (const [i, raw] of text.split('\n').entries()) {
    st.line = i + 1;
    const where = `${st.file}:${st.line}`;
    if (raw.includes('\0')) return `${where}: contains a NUL byte: this is not a text file`;
    if (raw.length > MAX_DNSMASQ_LINE_LENGTH) return `${where}: longer than ${MAX_DNSMASQ_LINE_LENGTH} characters`;
    const parsed = optionOf(raw.replace(/\r$/, ''));
    if (parsed === null) continue;
    st.option = parsed.option.toLowerCase();
    const handler = HANDLERS[st.option];
    if (handler === undefined) {
      unsupported(st, ALREADY[st.option] ?? 'not an option lxc-dhcpd reads');
      continue;
    }
    const error = handler(st, parsed.value);
    if (error !== null) return `${where}: ${st.option}=${parsed.value}: ${error}`;
  }
  return null;
}

/** The records, names qualified in the final domain as --dns-record does, with a CNAME alone at its name. */
function finishRecords(st: State, domain: string): Checked<StaticRecord[]> {
  const out: StaticRecord[] = [];
  // Per name: the line of its CNAME, or 0 when it holds other records (a Map, so 20 000 records stay linear).
  const byName = new Map<string, number>();
  for (const r of st.records) {
    const parsed = parseDnsRecord(r.text, domain);
    if (!parsed.ok) return fail(`${st.file}:${r.line}: ${parsed.error.replace(/^--dns-record /, '')}`);
    const { name, type } = parsed.value;
    const seen = byName.get(name);
    if (seen !== undefined && (seen > 0 || type === 'CNAME')) {
      const other = seen > 0 ? `has a CNAME (line ${seen})` : 'has other records';
      return fail(`${st.file}:${r.line}: ${name} ${other}: a CNAME cannot share its name with another record (RFC 1034 §3.6.2)`);
    }
    byName.set(name, type === 'CNAME' ? r.line : 0);
    out.push(parsed.value);
  }
  return ok(out);
}

/** Local domains and search lists other than the served domain are reported; name reservations checked together. */
function finish(st: State, domain: string): Checked<DnsmasqSettings> {
  for (const l of st.locals.filter((l) => l.domain !== domain)) {
    st.s.unsupported.push({
      file: st.file,
      line: l.line,
      option: 'local',
      reason: `the local domain ${l.domain || '(unqualified names)'}: lxc-dhcpd is authoritative for ${domain} only`,
    });
  }
  for (const s of st.search.filter((s) => s.domains.length !== 1 || s.domains[0] !== domain)) {
    st.s.unsupported.push({
      file: st.file,
      line: s.line,
      option: 'dhcp-option',
      reason: `the search list ${s.domains.join(',')}: lxc-dhcpd sends ${domain} (option 119)`,
    });
  }
  st.s.unsupported.sort((a, b) => a.line - b.line);
  const conflict = checkReservationConflicts(st.s.reservations) ?? nameConflict(st.s);
  if (conflict !== null) return fail(`${st.file}: ${conflict}`);
  const records = finishRecords(st, domain);
  if (!records.ok) return records;
  return ok({ ...st.s, records: records.value });
}

function nameConflict(s: DnsmasqSettings): string | null {
  const names = new Set<string>();
  const ips = new Set(s.reservations.map((r) => r.ip));
  for (const r of s.nameReservations) {
    if (names.has(r.name)) return `name ${r.name} is reserved twice: names must be unique`;
    if (ips.has(r.ip)) return `IP ${formatIPv4(r.ip)} is reserved twice: give each reservation its own address`;
    names.add(r.name);
    ips.add(r.ip);
  }
  return null;
}

/**
 * One dnsmasq conf file. `domain` is the domain in force when the file sets none (lxc-net's LXC_DOMAIN, or --domain):
 * relative record names are placed in the file's domain= if it has one, else in this one.
 */
export function parseDnsmasqConf(text: string, file: string, domain: string): Checked<DnsmasqSettings> {
  if (Buffer.byteLength(text) > MAX_DNSMASQ_CONF_BYTES)
    return fail(`${file}: larger than ${MAX_DNSMASQ_CONF_BYTES} bytes: this is not a hand-written conf file`);
  const s: DnsmasqSettings = {
    reservations: [],
    nameReservations: [],
    range: null,
    domain: null,
    records: [],
    upstreams: [],
    noResolv: false,
    routes: [],
    leaseMax: null,
    ping: true,
    unsupported: [],
  };
  const st: State = { s, records: [], locals: [], search: [], file, line: 0, option: '' };
  const error = readLines(text, st);
  if (error !== null) return fail(error);
  return finish(st, s.domain ?? domain.toLowerCase());
}
