/**
 * Typed readers and writers of the DHCPv6 options the server understands (RFC 8415 §21: IA_NA, IA Address, ORO,
 * Preference, Elapsed Time, Status Code, Rapid Commit, Information Refresh Time; RFC 3646: DNS servers and domain
 * list; RFC 4704: Client FQDN; RFC 6939: client link-layer address). Readers take an option's value bytes and return
 * the typed value or null / a named failure — never a throw; nested options go through message.ts's readOptions with
 * MAX_INNER_OPTIONS and stop at MAX_OPTION_DEPTH.
 */
import type { Writer } from './cursor.ts';
import { type Dhcp6Option, readOptions } from './message.ts';
import { IA_ADDRESS_FIXED_LENGTH, IA_NA_FIXED_LENGTH, MAX_INNER_OPTIONS, Option6 } from './vocabulary.ts';

export interface Status {
  code: number;
  /** UTF-8 text from the sender: escape before logging. */
  message: string;
}

export interface IaAddress {
  /** 16 bytes. */
  address: Buffer;
  preferred: number;
  valid: number;
  status: Status | null;
}

export interface IaNa {
  iaid: number;
  t1: number;
  t2: number;
  addresses: IaAddress[];
  status: Status | null;
}

type IaFailure = 'ia-na-short' | 'ia-address-short' | 'bad-inner-options';
type IaResult = { ok: true; ia: IaNa } | { ok: false; reason: IaFailure; detail: string };

export function decodeStatus(value: Buffer): Status | null {
  if (value.length < 2) return null;
  return { code: value.readUInt16BE(0), message: value.subarray(2).toString('utf8') };
}

/** Reads options nested in a container; depth 1 is inside an IA_NA, 2 inside its IA Address (MAX_OPTION_DEPTH). */
function inner(value: Buffer, start: number): Dhcp6Option[] | string {
  const read = readOptions(value, start, value.length, MAX_INNER_OPTIONS);
  return read.ok ? read.options : `${read.reason}: ${read.detail}`;
}

function decodeIaAddress(value: Buffer): IaAddress | string {
  if (value.length < IA_ADDRESS_FIXED_LENGTH) return `IA Address of ${value.length} bytes, need ${IA_ADDRESS_FIXED_LENGTH}`;
  const options = inner(value, IA_ADDRESS_FIXED_LENGTH);
  if (typeof options === 'string') return options;
  // Depth 2 (MAX_OPTION_DEPTH): only a Status Code is read here; anything nested deeper stays opaque.
  const status = options.find((o) => o.code === Option6.StatusCode);
  return {
    address: value.subarray(0, 16),
    preferred: value.readUInt32BE(16),
    valid: value.readUInt32BE(20),
    status: status ? decodeStatus(status.value) : null,
  };
}

/** RFC 8415 §21.4: IAID, T1, T2, then IA Address and Status Code options. */
export function decodeIaNa(value: Buffer): IaResult {
  if (value.length < IA_NA_FIXED_LENGTH) return { ok: false, reason: 'ia-na-short', detail: `IA_NA of ${value.length} bytes, need ${IA_NA_FIXED_LENGTH}` };
  const options = inner(value, IA_NA_FIXED_LENGTH);
  if (typeof options === 'string') return { ok: false, reason: 'bad-inner-options', detail: `in IA_NA: ${options}` };
  const addresses: IaAddress[] = [];
  let status: Status | null = null;
  for (const o of options) {
    if (o.code === Option6.StatusCode) status = decodeStatus(o.value);
    if (o.code !== Option6.IaAddress) continue;
    const a = decodeIaAddress(o.value);
    if (typeof a === 'string') return { ok: false, reason: a.startsWith('IA Address') ? 'ia-address-short' : 'bad-inner-options', detail: a };
    addresses.push(a);
  }
  return { ok: true, ia: { iaid: value.readUInt32BE(0), t1: value.readUInt32BE(4), t2: value.readUInt32BE(8), addresses, status } };
}

/** RFC 8415 §21.7: a list of 16-bit codes; null for an odd length. */
export function decodeOro(value: Buffer): number[] | null {
  if (value.length % 2 !== 0) return null;
  const codes: number[] = [];
  for (let i = 0; i < value.length; i += 2) codes.push(value.readUInt16BE(i));
  return codes;
}

/** RFC 8415 §21.9: hundredths of a second; null unless 2 bytes. */
export function decodeElapsedTime(value: Buffer): number | null {
  return value.length === 2 ? value.readUInt16BE(0) : null;
}

interface ClientFqdn {
  /** RFC 4704 §4.1: N, O, S bits. */
  flags: number;
  /** The labels as sent (Latin-1 of the bytes: hostile, validate with toHostLabel before any use). */
  labels: string[];
}

/** Longest domain name on the wire (RFC 1035 §2.3.4). */
const MAX_NAME_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;

/** RFC 1035 §3.1 uncompressed labels, ending with the root label or not (a partial name, RFC 4704 §4.2). */
export function decodeDomainName(bytes: Buffer): string[] | null {
  if (bytes.length > MAX_NAME_LENGTH) return null;
  const labels: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const length = bytes[i] as number;
    if (length === 0) return i === bytes.length - 1 ? labels : null;
    if (length > MAX_LABEL_LENGTH || i + 1 + length > bytes.length) return null;
    labels.push(bytes.subarray(i + 1, i + 1 + length).toString('latin1'));
    i += 1 + length;
  }
  return labels;
}

/** RFC 4704 §4.1: one flags byte, then the name. */
export function decodeClientFqdn(value: Buffer): ClientFqdn | null {
  if (value.length < 1) return null;
  const labels = decodeDomainName(value.subarray(1));
  return labels === null ? null : { flags: value[0] as number, labels };
}

export const FQDN_S = 0x1;
export const FQDN_O = 0x2;

interface LinkLayerAddress {
  hardwareType: number;
  address: Buffer;
}

/** RFC 6939 §4: hardware type, then the address; null when shorter than the type. */
export function decodeLinkLayerAddress(value: Buffer): LinkLayerAddress | null {
  if (value.length < 2) return null;
  return { hardwareType: value.readUInt16BE(0), address: value.subarray(2) };
}

// ---- writers ----

export function writeStatus(w: Writer, code: number, message: string): void {
  w.option(Option6.StatusCode, (x) => x.u16(code).bytes(Buffer.from(message, 'utf8')));
}

export interface IaAddressOut {
  address: Buffer;
  preferred: number;
  valid: number;
}

export interface IaNaOut {
  iaid: number;
  t1: number;
  t2: number;
  addresses: IaAddressOut[];
  status: { code: number; message: string } | null;
}

export function writeIaNa(w: Writer, ia: IaNaOut): void {
  w.option(Option6.IaNa, (x) => {
    x.u32(ia.iaid).u32(ia.t1).u32(ia.t2);
    for (const a of ia.addresses) x.option(Option6.IaAddress, (y) => y.bytes(a.address).u32(a.preferred).u32(a.valid));
    if (ia.status !== null) writeStatus(x, ia.status.code, ia.status.message);
  });
}

/** RFC 1035 §3.1 labels of a dotted name, ending with the root label. */
export function encodeDomainName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split('.')) {
    if (label === '') continue;
    const bytes = Buffer.from(label.slice(0, MAX_LABEL_LENGTH), 'ascii');
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function writeDnsServers(w: Writer, servers: readonly Buffer[]): void {
  w.option(Option6.DnsServers, (x) => {
    for (const s of servers) x.bytes(s);
  });
}

export function writeDomainList(w: Writer, domains: readonly string[]): void {
  w.option(Option6.DomainList, (x) => {
    for (const d of domains) x.bytes(encodeDomainName(d));
  });
}

export function writeClientFqdn(w: Writer, flags: number, name: string): void {
  w.option(Option6.ClientFqdn, (x) => x.u8(flags).bytes(encodeDomainName(name)));
}
