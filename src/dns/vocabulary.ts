/**
 * The DNS vocabulary, in one place: header sizes and flag bits, rcodes and their names, the record types the server
 * reads by number, the class IN, and the EDNS0 OPT record's sizes (RFC 1035 §4.1, RFC 6891). Every module of src/dns
 * that writes a header or names an rcode takes it from here (pg-protocol's messages.ts is the model): a flag or rcode
 * added here is seen by the fast path, the general path and the forwarder alike.
 */

export const HEADER_LENGTH = 12;
/** Our EDNS UDP payload size (DNS flag day 2020: fits one unfragmented IPv6 packet). */
export const EDNS_UDP_SIZE = 1232;
/** The UDP size of a query without EDNS (RFC 1035 §4.2.1). */
export const PLAIN_UDP_SIZE = 512;
/** A plain OPT record: root name 1, type 2, class (UDP size) 2, TTL (ext-rcode, version, flags) 4, rdlength 2. */
export const OPT_RECORD_LENGTH = 11;

/** Header flag bits (the 16-bit word at offset 2). */
export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  CD: 0x0010,
} as const;
/** The DO bit in the OPT record's flags (the low 16 bits of its TTL), and in its byte at TTL offset 2. */
export const OPT_FLAG_DO = 0x8000;

export const Rcode = {
  NoError: 0,
  FormErr: 1,
  ServFail: 2,
  NxDomain: 3,
  NotImp: 4,
  Refused: 5,
  /** Extended (OPT) rcode 16: upper 8 bits in OPT = 1, header rcode 0. */
  BadVers: 16,
} as const;

export const Opcode = { Query: 0 } as const;

const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  16: 'BADVERS',
};
/** The header rcodes as dns-packet decodes them (RFC 1035 §4.1.1, RFC 2136 §2.2). */
const RCODE_NUMBERS: Readonly<Record<string, number>> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
};

/** The rcode's metric label: the mnemonic of those we answer ourselves (and BADVERS), RCODE<n> for the rest. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** The number of an rcode mnemonic as dns-packet decodes it; undefined for one we do not know. */
export function rcodeNumber(name: string): number | undefined {
  return RCODE_NUMBERS[name];
}

/** Record types the server reads by number (the fast path accepts questions of these types only). */
export const Type = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  HTTPS: 65,
  ANY: 255,
} as const;

const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Type)
    .filter(([name]) => name !== 'OPT')
    .map(([name, n]) => [n, name]),
);

/** The name of a question type the fast path handles, else undefined. */
export function typeName(type: number): string | undefined {
  return TYPE_NAMES[type];
}

/**
 * The number of a question type as dns-packet names it (it calls types it does not know UNKNOWN_<n>: HTTPS is
 * UNKNOWN_65), for the types the fast path handles; undefined for the rest.
 */
export function typeNumber(name: string): number | undefined {
  const unknown = /^UNKNOWN_(\d+)$/.exec(name);
  if (unknown !== null) return TYPE_NAMES[Number(unknown[1])] !== undefined ? Number(unknown[1]) : undefined;
  const n = (Type as Readonly<Record<string, number>>)[name];
  return n === undefined || n === Type.OPT ? undefined : n;
}

export const CLASS_IN = 1;

/**
 * The flags word of a response: QR, the rcode's low four bits, and the bits given (AA, TC, RA, and RD/CD copied from
 * the query). The one place a response's flags are put together; what may be set when is the callers' policy.
 */
export function responseFlags(rcode: number, bits: number): number {
  return Flag.QR | bits | (rcode & 0xf);
}
