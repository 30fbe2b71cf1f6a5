/**
 * Parses the repeatable `--dns-record NAME,TYPE,DATA` flag into static records (A, AAAA, CNAME, TXT, SRV) that the
 * static zone (src/dns/static-zone.ts) answers. A NAME is inside `--domain` when it has no dot once its leading
 * `_service` labels are set aside (`printer` is printer.lxc, `_http._tcp` is _http._tcp.lxc); otherwise it is taken
 * as written (`printer.lxc`, `db.example.com`, `_sip._udp.example.com`), as is any name with a trailing dot (`lxc.`).
 * CNAME and SRV targets follow the same rule. The zone apex and `ns.DOMAIN` are the zone's own and cannot be given;
 * a name with a CNAME has nothing else (RFC 1034 §3.6.2). Errors are one sentence naming the flag value.
 */
import { isIPv6 } from 'node:net';
import { parseIPv4 } from '../net/address.ts';
import { type Checked, fail, ok } from '../result.ts';

export type StaticRecord =
  | { name: string; type: 'A' | 'AAAA' | 'CNAME'; data: string }
  | { name: string; type: 'TXT'; data: string[] }
  | { name: string; type: 'SRV'; data: { priority: number; weight: number; port: number; target: string } };

/** One TXT character-string holds at most 255 bytes (RFC 1035 §3.3); longer text is split into several. */
const TXT_STRING_BYTES = 255;
/**
 * Longest TXT text accepted: with its owner name and the header it still fits a 1232-byte EDNS answer (vocabulary's
 * EDNS_UDP_SIZE), so it never needs TCP from a client that speaks EDNS.
 */
export const MAX_TXT_BYTES = 1024;
/** RFC 1035 §2.3.4: labels of 1–63 bytes, names of at most 253 characters in text form. */
const MAX_NAME_LENGTH = 253;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** `text` as a lower-case name, qualified with `domain` when relative (see the header); null when it is no name. */
function qualifyName(text: string, domain: string): string | null {
  const name = text.toLowerCase().replace(/\.$/, '');
  const relative = !text.endsWith('.') && !name.replace(/^(_[^.]*\.)*/, '').includes('.');
  const full = relative ? `${name}.${domain}` : name;
  if (full.length > MAX_NAME_LENGTH || !full.split('.').every((l) => LABEL.test(l))) return null;
  return full;
}

function uint16(text: string): number | null {
  return /^\d{1,5}$/.test(text) && Number(text) <= 0xffff ? Number(text) : null;
}

/** `text` cut into strings of at most 255 bytes, between characters (a cut inside a UTF-8 sequence would garble it). */
function txtStrings(text: string): string[] {
  const strings: string[] = [];
  let current = '';
  let bytes = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (bytes + size > TXT_STRING_BYTES) {
      strings.push(current);
      current = '';
      bytes = 0;
    }
    current += char;
    bytes += size;
  }
  strings.push(current);
  return strings;
}

/** The data of one record of `type`, or the sentence saying what is wrong with it. */
function recordData(type: string, data: string, domain: string): Checked<Omit<StaticRecord, 'name'>> {
  switch (type) {
    case 'A':
      return parseIPv4(data) === null ? fail(`${JSON.stringify(data)} is not an IPv4 address`) : ok({ type, data });
    case 'AAAA':
      return isIPv6(data) ? ok({ type, data: data.toLowerCase() }) : fail(`${JSON.stringify(data)} is not an IPv6 address`);
    case 'CNAME': {
      const target = qualifyName(data, domain);
      return target === null ? fail(`${JSON.stringify(data)} is not a name`) : ok({ type, data: target });
    }
    case 'TXT':
      if (Buffer.byteLength(data) > MAX_TXT_BYTES) return fail(`the text is longer than ${MAX_TXT_BYTES} bytes`);
      return ok({ type, data: txtStrings(data) });
    case 'SRV': {
      const parts = data.trim().split(/\s+/);
      const [priority, weight, port] = parts.slice(0, 3).map(uint16);
      const last = parts[3];
      const target = parts.length === 4 && last !== undefined ? qualifyName(last, domain) : null;
      if (parts.length !== 4 || priority == null || weight == null || port == null || target === null) {
        return fail(`${JSON.stringify(data)} is not "PRIORITY WEIGHT PORT TARGET" (three numbers 0-65535 and a name)`);
      }
      return ok({ type, data: { priority, weight, port, target } });
    }
    default:
      return fail(`type ${JSON.stringify(type)} is not one of A, AAAA, CNAME, TXT, SRV`);
  }
}

/** One `NAME,TYPE,DATA` (DATA is everything after the second comma, so TXT text may hold commas). */
export function parseDnsRecord(text: string, domain: string): Checked<StaticRecord> {
  const first = text.indexOf(',');
  const second = first < 0 ? -1 : text.indexOf(',', first + 1);
  const example = 'e.g. printer,A,10.0.0.9 or _http._tcp,SRV,0 5 80 web';
  if (second < 0) return fail(`--dns-record ${JSON.stringify(text)} is not NAME,TYPE,DATA (${example})`);
  const name = qualifyName(text.slice(0, first).trim(), domain);
  if (name === null) return fail(`--dns-record ${JSON.stringify(text)}: ${JSON.stringify(text.slice(0, first))} is not a name`);
  if (name === domain || name === `ns.${domain}`) {
    return fail(`--dns-record ${JSON.stringify(text)}: ${name} is the zone's own (its apex or name server)`);
  }
  const type = text
    .slice(first + 1, second)
    .trim()
    .toUpperCase();
  const data = recordData(type, type === 'TXT' ? text.slice(second + 1) : text.slice(second + 1).trim(), domain);
  if (!data.ok) return fail(`--dns-record ${JSON.stringify(text)}: ${data.error} (${example})`);
  return ok({ name, ...data.value } as StaticRecord);
}

/** Every `--dns-record`, checked one by one and together (a CNAME's name holds nothing else). */
export function parseDnsRecords(texts: readonly string[], domain: string): Checked<StaticRecord[]> {
  const records: StaticRecord[] = [];
  for (const text of texts) {
    const record = parseDnsRecord(text, domain);
    if (!record.ok) return record;
    const clash = records.find((r) => r.name === record.value.name && (r.type === 'CNAME' || record.value.type === 'CNAME'));
    if (clash !== undefined) {
      return fail(`--dns-record ${JSON.stringify(text)}: ${clash.name} has a CNAME, which cannot share its name with another record (RFC 1034 §3.6.2)`);
    }
    records.push(record.value);
  }
  return ok(records);
}
