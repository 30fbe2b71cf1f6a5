/**
 * Router solicitations and router advertisements (RFC 4861 §4.1, §4.2) as bytes: a solicitation is parsed and checked
 * against the validity rules of §6.1.1 (never throwing, a named reason for each failure); an advertisement is encoded
 * with the options this daemon sends: source link-layer address (§4.6.1), MTU (§4.6.4), one prefix (§4.6.2), RDNSS
 * and DNSSL (RFC 8106 §5.1, §5.2). The ICMPv6 checksum is not written here: src/wire/frame6.ts computes it when it
 * builds the frame around the message.
 */

import { writeMac } from '../net/address.ts';
import { IPV6_LENGTH, isUnspecified } from '../net/address6.ts';
import { icmpv6MessageChecksumOk } from '../wire/frame6.ts';

const ICMPV6_ROUTER_SOLICITATION = 133;
const ICMPV6_ROUTER_ADVERTISEMENT = 134;
/** RFC 4861 §6.1.1 and §6.1.2: neighbour discovery messages must arrive with the hop limit they were sent with. */
export const ND_HOP_LIMIT = 255;
const RS_HEADER_LENGTH = 8;
const RA_HEADER_LENGTH = 16;
/** Options are sized in units of 8 bytes (RFC 4861 §4.6). */
const OPTION_UNIT = 8;
const OPTION_SOURCE_LINK_LAYER = 1;
const OPTION_PREFIX_INFORMATION = 3;
const OPTION_MTU = 5;
const OPTION_RDNSS = 25;
const OPTION_DNSSL = 31;
const FLAG_MANAGED = 0x80;
const FLAG_OTHER = 0x40;
const PREFIX_FLAG_ON_LINK = 0x80;
const PREFIX_FLAG_AUTONOMOUS = 0x40;
/** The hop limit we suggest to hosts (RFC 4861 §6.2.1 AdvCurHopLimit: the IANA default TTL, 64). */
const ADV_CUR_HOP_LIMIT = 64;
/**
 * Largest RA we encode: the IPv6 minimum MTU (RFC 8200 §5) less the IPv6 header, so the message never needs
 * fragmenting whatever the link. The options come from the operator's configuration, so this is a RangeError, not a drop.
 */
export const MAX_RA_LENGTH = 1280 - 40;

type RsParseFailure =
  | 'rs-not-solicitation'
  | 'rs-hop-limit'
  | 'rs-checksum'
  | 'rs-code'
  | 'rs-short'
  | 'rs-option-truncated'
  | 'rs-option-length-zero'
  | 'rs-source-link-layer-from-unspecified';

interface RouterSolicitation {
  /** 16 bytes; the unspecified address when the host has none yet. */
  src: Buffer;
  /** The source link-layer address option, sender-written: informational only (we answer the frame's source MAC). */
  sourceLinkLayer: string | null;
}

type RsParseResult = { ok: true; rs: RouterSolicitation } | { ok: false; reason: RsParseFailure; detail: string };

/** What the IPv6 layer tells the parser (src/wire/frame6.ts Icmpv6Packet has these fields). */
export interface Icmpv6Input {
  src: Buffer;
  dst: Buffer;
  hopLimit: number;
  /** The whole ICMPv6 message, checksum included. */
  message: Buffer;
}

function fail(reason: RsParseFailure, detail: string): RsParseResult {
  return { ok: false, reason, detail };
}

/** RFC 4861 §6.1.1: a router silently discards solicitations that break any of these rules. */
export function parseRouterSolicitation(p: Icmpv6Input): RsParseResult {
  const m = p.message;
  if (m.length < 1 || m[0] !== ICMPV6_ROUTER_SOLICITATION) return fail('rs-not-solicitation', `ICMPv6 type ${m[0]}`);
  if (p.hopLimit !== ND_HOP_LIMIT) return fail('rs-hop-limit', `hop limit ${p.hopLimit}`);
  if (m.length < RS_HEADER_LENGTH) return fail('rs-short', `${m.length} bytes`);
  if (!icmpv6MessageChecksumOk(p.src, p.dst, m)) return fail('rs-checksum', 'ICMPv6 checksum mismatch');
  if (m[1] !== 0) return fail('rs-code', `code ${m[1]}`);
  let sourceLinkLayer: string | null = null;
  for (let at = RS_HEADER_LENGTH; at < m.length; ) {
    if (at + 2 > m.length) return fail('rs-option-truncated', `option header at ${at}`);
    const units = m[at + 1] as number;
    if (units === 0) return fail('rs-option-length-zero', `option type ${m[at]} at ${at}`);
    const end = at + units * OPTION_UNIT;
    if (end > m.length) return fail('rs-option-truncated', `option type ${m[at]} of ${units * OPTION_UNIT} bytes at ${at} in ${m.length}`);
    // Ethernet: one unit holding type, length and the 6-byte MAC (RFC 2464 §6). Other link layers: not ours.
    if (m[at] === OPTION_SOURCE_LINK_LAYER && units === 1) sourceLinkLayer = macText(m, at + 2);
    at = end;
  }
  if (sourceLinkLayer !== null && isUnspecified(p.src)) return fail('rs-source-link-layer-from-unspecified', 'source link-layer option from ::');
  return { ok: true, rs: { src: Buffer.from(p.src), sourceLinkLayer } };
}

function macText(m: Buffer, at: number): string {
  return Array.from(m.subarray(at, at + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * What DHCPv6 offers, as the M and O flags say it (RFC 4861 §4.2): 'stateless' sets O only (addresses by SLAAC, DNS
 * and domain by an Information-Request, RFC 8415 §18.2.6); 'stateful' sets M and O: M alone would do (§4.2: with M, O
 * is redundant because DHCPv6 returns all configuration), but setting it costs nothing and clients that start their
 * DHCPv6 "other configuration" only on O get DNS either way; 'none' sets neither.
 */
export type Dhcp6Mode = 'none' | 'stateless' | 'stateful';

export interface PrefixInformation {
  /** The /64 (only the first 8 bytes count; the rest is sent as zeros, RFC 4861 §4.6.2). */
  prefix: Buffer;
  validLifetime: number;
  preferredLifetime: number;
}

export interface RouterAdvertisement {
  mode: Dhcp6Mode;
  /** Seconds; 0 tells hosts we are not a default router (the final RA, RFC 4861 §6.2.5). */
  routerLifetime: number;
  /** Source link-layer address option: the bridge's MAC. */
  sourceMac: string;
  /** The MTU option, or null to leave it out. */
  mtu: number | null;
  prefix: PrefixInformation;
  /** RDNSS addresses (16 bytes each); none leaves the option out. */
  dnsServers: readonly Buffer[];
  /** DNSSL domains, e.g. ['lxc']; none leaves the option out. */
  domains: readonly string[];
  /** Seconds, for both the RDNSS and the DNSSL option (RFC 8106 §5.1: 0 means "no longer use these"). */
  dnsLifetime: number;
}

function flagsOf(mode: Dhcp6Mode): number {
  if (mode === 'stateful') return FLAG_MANAGED | FLAG_OTHER;
  return mode === 'stateless' ? FLAG_OTHER : 0;
}

function sourceLinkLayerOption(mac: string): Buffer {
  const option = Buffer.alloc(OPTION_UNIT);
  option[0] = OPTION_SOURCE_LINK_LAYER;
  option[1] = 1;
  writeMac(option, 2, mac);
  return option;
}

function mtuOption(mtu: number): Buffer {
  const option = Buffer.alloc(OPTION_UNIT);
  option[0] = OPTION_MTU;
  option[1] = 1;
  option.writeUInt32BE(mtu, 4);
  return option;
}

/** RFC 4861 §4.6.2 with L and A set: the prefix is on the link, and hosts form their addresses in it by SLAAC. */
function prefixOption(p: PrefixInformation): Buffer {
  if (p.preferredLifetime > p.validLifetime) throw new RangeError('the preferred lifetime exceeds the valid lifetime');
  const option = Buffer.alloc(4 * OPTION_UNIT);
  option[0] = OPTION_PREFIX_INFORMATION;
  option[1] = 4;
  option[2] = 64;
  option[3] = PREFIX_FLAG_ON_LINK | PREFIX_FLAG_AUTONOMOUS;
  option.writeUInt32BE(p.validLifetime, 4);
  option.writeUInt32BE(p.preferredLifetime, 8);
  option.set(p.prefix.subarray(0, 8), 16);
  return option;
}

/** RFC 8106 §5.1. */
function rdnssOption(servers: readonly Buffer[], lifetime: number): Buffer {
  const option = Buffer.alloc(OPTION_UNIT + servers.length * IPV6_LENGTH);
  option[0] = OPTION_RDNSS;
  option[1] = 1 + 2 * servers.length;
  option.writeUInt32BE(lifetime, 4);
  servers.forEach((server, i) => {
    if (server.length !== IPV6_LENGTH) throw new RangeError('an RDNSS address has 16 bytes');
    option.set(server, OPTION_UNIT + i * IPV6_LENGTH);
  });
  return option;
}

/** A domain in DNS wire format, uncompressed (RFC 8106 §5.2 forbids compression). */
function encodeDomain(domain: string): Buffer {
  const labels = domain.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`domain ${JSON.stringify(domain)}: a label has 1 to 63 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.alloc(1));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new RangeError(`domain ${JSON.stringify(domain)} is longer than 255 bytes`);
  return wire;
}

/** RFC 8106 §5.2: the names one after another, zero-padded to a whole number of 8-byte units. */
function dnsslOption(domains: readonly string[], lifetime: number): Buffer {
  const names = Buffer.concat(domains.map(encodeDomain));
  const units = Math.ceil((OPTION_UNIT + names.length) / OPTION_UNIT);
  const option = Buffer.alloc(units * OPTION_UNIT);
  option[0] = OPTION_DNSSL;
  option[1] = units;
  option.writeUInt32BE(lifetime, 4);
  option.set(names, OPTION_UNIT);
  return option;
}

/**
 * The ICMPv6 message of a router advertisement (RFC 4861 §4.2), its checksum bytes zero. Reachable Time and Retrans
 * Timer are 0 (unspecified: hosts keep their own), as radvd and systemd-networkd send by default. Throws RangeError
 * for a configuration that cannot be encoded (a lifetime out of range, a bad domain, more than MAX_RA_LENGTH bytes).
 */
export function encodeRouterAdvertisement(ra: RouterAdvertisement): Buffer {
  if (!Number.isInteger(ra.routerLifetime) || ra.routerLifetime < 0 || ra.routerLifetime > 0xffff) {
    throw new RangeError(`router lifetime ${ra.routerLifetime}`);
  }
  const header = Buffer.alloc(RA_HEADER_LENGTH);
  header[0] = ICMPV6_ROUTER_ADVERTISEMENT;
  header[4] = ADV_CUR_HOP_LIMIT;
  header[5] = flagsOf(ra.mode);
  header.writeUInt16BE(ra.routerLifetime, 6);
  const parts = [header, sourceLinkLayerOption(ra.sourceMac)];
  if (ra.mtu !== null) parts.push(mtuOption(ra.mtu));
  parts.push(prefixOption(ra.prefix));
  if (ra.dnsServers.length > 0) parts.push(rdnssOption(ra.dnsServers, ra.dnsLifetime));
  if (ra.domains.length > 0) parts.push(dnsslOption(ra.domains, ra.dnsLifetime));
  const message = Buffer.concat(parts);
  if (message.length > MAX_RA_LENGTH) throw new RangeError(`router advertisement of ${message.length} bytes exceeds ${MAX_RA_LENGTH}`);
  return message;
}
