/**
 * nf_tables rule expressions, encoded as the kernel reads them (linux/netfilter/nf_tables.h). Each
 * encoder returns one NFTA_LIST_ELEM attribute, ready to be placed in a rule's NFTA_RULE_EXPRESSIONS.
 * The attribute order inside each expression is the one nft(8) uses, so `nft --debug=mnl` output can
 * be compared with ours byte for byte.
 */
import { encodeAttribute, encodeNestedAttribute, encodeStringAttribute, encodeU32BeAttribute } from './netlink-encoding.ts';

// enum nft_list_attributes / nft_expr_attributes
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;

// enum nft_data_attributes / nft_verdict_attributes
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;

// enum nft_registers: the verdict register and the first 128-bit data register
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;

// enum nft_meta_attributes, nft_meta_keys
const NFTA_META_DREG = 1;
const NFTA_META_KEY = 2;
const NFT_META_IIFNAME = 6;
const NFT_META_OIFNAME = 7;
const NFT_META_L4PROTO = 16;
type MetaKey = typeof NFT_META_IIFNAME | typeof NFT_META_OIFNAME | typeof NFT_META_L4PROTO;

// enum nft_payload_attributes, nft_payload_bases
const NFTA_PAYLOAD_DREG = 1;
const NFTA_PAYLOAD_BASE = 2;
const NFTA_PAYLOAD_OFFSET = 3;
const NFTA_PAYLOAD_LEN = 4;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
type PayloadBase = typeof NFT_PAYLOAD_NETWORK_HEADER | typeof NFT_PAYLOAD_TRANSPORT_HEADER;

// enum nft_cmp_attributes, nft_cmp_ops
const NFTA_CMP_SREG = 1;
const NFTA_CMP_OP = 2;
const NFTA_CMP_DATA = 3;
export const NFT_CMP_EQ = 0;
export const NFT_CMP_NEQ = 1;
type CmpOp = typeof NFT_CMP_EQ | typeof NFT_CMP_NEQ;

// enum nft_bitwise_attributes
const NFTA_BITWISE_SREG = 1;
const NFTA_BITWISE_DREG = 2;
const NFTA_BITWISE_LEN = 3;
const NFTA_BITWISE_MASK = 4;
const NFTA_BITWISE_XOR = 5;

// enum nft_immediate_attributes
const NFTA_IMMEDIATE_DREG = 1;
const NFTA_IMMEDIATE_DATA = 2;

/** Netfilter verdicts (linux/netfilter.h). */
const NF_DROP = 0;
export const NF_ACCEPT = 1;
type Verdict = typeof NF_DROP | typeof NF_ACCEPT;

/** IP protocol numbers used by our rules. */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
type TransportProtocol = typeof IPPROTO_TCP | typeof IPPROTO_UDP;

/** Interface names are compared as the kernel stores them: IFNAMSIZ (16) bytes, NUL padded. */
const IFNAMSIZ = 16;

function expression(name: string, data: readonly Buffer[]): Buffer {
  return encodeNestedAttribute(NFTA_LIST_ELEM, [encodeStringAttribute(NFTA_EXPR_NAME, name), encodeNestedAttribute(NFTA_EXPR_DATA, data)]);
}

function dataValue(type: number, value: Uint8Array): Buffer {
  return encodeNestedAttribute(type, [encodeAttribute(NFTA_DATA_VALUE, value)]);
}

/** `meta load KEY => reg DREG` */
function metaLoad(key: MetaKey, destinationRegister: number = NFT_REG_1): Buffer {
  return expression('meta', [encodeU32BeAttribute(NFTA_META_KEY, key), encodeU32BeAttribute(NFTA_META_DREG, destinationRegister)]);
}

/** `payload load LENb @ BASE header + OFFSET => reg DREG` */
function payloadLoad(base: PayloadBase, offset: number, length: number, destinationRegister: number = NFT_REG_1): Buffer {
  return expression('payload', [
    encodeU32BeAttribute(NFTA_PAYLOAD_DREG, destinationRegister),
    encodeU32BeAttribute(NFTA_PAYLOAD_BASE, base),
    encodeU32BeAttribute(NFTA_PAYLOAD_OFFSET, offset),
    encodeU32BeAttribute(NFTA_PAYLOAD_LEN, length),
  ]);
}

/** `cmp OP reg SREG VALUE` */
function cmp(op: CmpOp, value: Uint8Array, sourceRegister: number = NFT_REG_1): Buffer {
  return expression('cmp', [encodeU32BeAttribute(NFTA_CMP_SREG, sourceRegister), encodeU32BeAttribute(NFTA_CMP_OP, op), dataValue(NFTA_CMP_DATA, value)]);
}

/** `bitwise reg DREG = (reg SREG & MASK) ^ XOR`; mask and xor have the same length. */
function bitwise(mask: Uint8Array, xor: Uint8Array, sourceRegister: number = NFT_REG_1, destinationRegister: number = NFT_REG_1): Buffer {
  if (mask.length !== xor.length) throw new RangeError(`bitwise: mask is ${mask.length} bytes, xor ${xor.length}`);
  return expression('bitwise', [
    encodeU32BeAttribute(NFTA_BITWISE_SREG, sourceRegister),
    encodeU32BeAttribute(NFTA_BITWISE_DREG, destinationRegister),
    encodeU32BeAttribute(NFTA_BITWISE_LEN, mask.length),
    dataValue(NFTA_BITWISE_MASK, mask),
    dataValue(NFTA_BITWISE_XOR, xor),
  ]);
}

/** `masq` (source NAT to the outgoing interface's address), no options. */
export function masquerade(): Buffer {
  return expression('masq', []);
}

/** `immediate reg 0 VERDICT` */
export function immediateVerdict(verdict: Verdict): Buffer {
  return expression('immediate', [
    encodeU32BeAttribute(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT),
    encodeNestedAttribute(NFTA_IMMEDIATE_DATA, [encodeNestedAttribute(NFTA_DATA_VERDICT, [encodeU32BeAttribute(NFTA_VERDICT_CODE, verdict)])]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Matches built from the expressions above (each returns the expression list nft itself emits)

/** An interface name as IFNAMSIZ bytes, NUL padded; throws for names the kernel would not accept. */
export function interfaceNameBytes(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ || bytes.includes(0)) {
    throw new RangeError(`interface name ${JSON.stringify(name)} must be 1 to ${IFNAMSIZ - 1} bytes`);
  }
  const out = Buffer.alloc(IFNAMSIZ);
  bytes.copy(out);
  return out;
}

/** `iifname NAME` or `oifname NAME` */
export function matchInterfaceName(direction: 'iifname' | 'oifname', name: string): Buffer[] {
  return [metaLoad(direction === 'iifname' ? NFT_META_IIFNAME : NFT_META_OIFNAME), cmp(NFT_CMP_EQ, interfaceNameBytes(name))];
}

const IPV4_SADDR_OFFSET = 12;
const IPV4_DADDR_OFFSET = 16;

/**
 * `ip saddr|daddr [!=] NETWORK/PREFIX`. Like nft: a byte-aligned prefix loads only the prefix bytes;
 * any other prefix loads 4 bytes and masks them with a bitwise expression.
 */
export function matchIpv4Prefix(field: 'saddr' | 'daddr', op: CmpOp, network: number, prefixLength: number): Buffer[] {
  if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 32) {
    throw new RangeError(`prefix length ${prefixLength} is not 1-32`);
  }
  const offset = field === 'saddr' ? IPV4_SADDR_OFFSET : IPV4_DADDR_OFFSET;
  const mask = prefixLength === 32 ? 0xffffffff : (0xffffffff << (32 - prefixLength)) >>> 0;
  const networkBytes = Buffer.alloc(4);
  networkBytes.writeUInt32BE((network & mask) >>> 0);
  if (prefixLength % 8 === 0) {
    const length = prefixLength / 8;
    return [payloadLoad(NFT_PAYLOAD_NETWORK_HEADER, offset, length), cmp(op, networkBytes.subarray(0, length))];
  }
  const maskBytes = Buffer.alloc(4);
  maskBytes.writeUInt32BE(mask);
  return [payloadLoad(NFT_PAYLOAD_NETWORK_HEADER, offset, 4), bitwise(maskBytes, Buffer.alloc(4)), cmp(op, networkBytes)];
}

const TRANSPORT_DPORT_OFFSET = 2;

/** `udp dport PORT` / `tcp dport PORT`: `meta l4proto` check, then the destination port. */
export function matchDestinationPort(protocol: TransportProtocol, port: number): Buffer[] {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port ${port} is not 0-65535`);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return [
    metaLoad(NFT_META_L4PROTO),
    cmp(NFT_CMP_EQ, Buffer.from([protocol])),
    payloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, TRANSPORT_DPORT_OFFSET, 2),
    cmp(NFT_CMP_EQ, portBytes),
  ];
}

const IPV6_SADDR_OFFSET = 8;
const IPV6_DADDR_OFFSET = 24;

/** `ip6 saddr|daddr [!=] PREFIX/64`: like nft, a byte-aligned prefix loads and compares only its bytes. */
export function matchIpv6Prefix64(field: 'saddr' | 'daddr', op: CmpOp, prefix: Uint8Array): Buffer[] {
  if (prefix.length !== 16) throw new RangeError(`an IPv6 prefix has 16 bytes, not ${prefix.length}`);
  const offset = field === 'saddr' ? IPV6_SADDR_OFFSET : IPV6_DADDR_OFFSET;
  return [payloadLoad(NFT_PAYLOAD_NETWORK_HEADER, offset, 8), cmp(op, Buffer.from(prefix.subarray(0, 8)))];
}

/** `oifname != NAME` (the masquerade rule's "out of any interface but the bridge"). */
export function matchInterfaceNameNot(direction: 'iifname' | 'oifname', name: string): Buffer[] {
  return [metaLoad(direction === 'iifname' ? NFT_META_IIFNAME : NFT_META_OIFNAME), cmp(NFT_CMP_NEQ, interfaceNameBytes(name))];
}

const IPPROTO_ICMPV6 = 58;

/** `icmpv6 type TYPE`: `meta l4proto icmpv6`, then the first byte of the ICMPv6 header (RFC 4443 §2.1). */
export function matchIcmpv6Type(type: number): Buffer[] {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RangeError(`ICMPv6 type ${type} is not 0-255`);
  return [
    metaLoad(NFT_META_L4PROTO),
    cmp(NFT_CMP_EQ, Buffer.from([IPPROTO_ICMPV6])),
    payloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1),
    cmp(NFT_CMP_EQ, Buffer.from([type])),
  ];
}

// enum nft_ct_attributes, nft_ct_keys; the state bits of linux/netfilter/nf_conntrack_common.h (NF_CT_STATE_BIT)
const NFTA_CT_DREG = 1;
const NFTA_CT_KEY = 2;
const NFT_CT_STATE = 0;
const CT_STATE_ESTABLISHED = 1 << 1;
const CT_STATE_RELATED = 1 << 2;

/** `ct load state => reg DREG` (key first, as libnftnl builds it). */
function ctLoad(key: typeof NFT_CT_STATE, destinationRegister: number = NFT_REG_1): Buffer {
  return expression('ct', [encodeU32BeAttribute(NFTA_CT_KEY, key), encodeU32BeAttribute(NFTA_CT_DREG, destinationRegister)]);
}

/** A u32 in host byte order: conntrack state bits are compared as the kernel holds them. */
function u32HostBytes(value: number): Buffer {
  const out = Buffer.alloc(4);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) out.writeUInt32LE(value >>> 0);
  else out.writeUInt32BE(value >>> 0);
  return out;
}

/** `ct state established,related`: the state masked with both bits, not zero (what nft emits for a flag list). */
export function matchCtStateEstablishedRelated(): Buffer[] {
  return [ctLoad(NFT_CT_STATE), bitwise(u32HostBytes(CT_STATE_ESTABLISHED | CT_STATE_RELATED), Buffer.alloc(4)), cmp(NFT_CMP_NEQ, Buffer.alloc(4))];
}

// enum nft_lookup_attributes
const NFTA_LOOKUP_SET = 1;
const NFTA_LOOKUP_SREG = 2;
const NFTA_LOOKUP_SET_ID = 4;

/** `lookup reg SREG set NAME` (sreg, name, set id: nft's order); the id finds a set created in the same batch. */
function lookup(set: string, setId: number, sourceRegister: number = NFT_REG_1): Buffer {
  return expression('lookup', [
    encodeU32BeAttribute(NFTA_LOOKUP_SREG, sourceRegister),
    encodeStringAttribute(NFTA_LOOKUP_SET, set),
    encodeU32BeAttribute(NFTA_LOOKUP_SET_ID, setId),
  ]);
}

/** `ip saddr|daddr @SET`: the 4 address bytes looked up in an ipv4_addr set. */
export function matchIpv4InSet(field: 'saddr' | 'daddr', set: string, setId: number): Buffer[] {
  const offset = field === 'saddr' ? IPV4_SADDR_OFFSET : IPV4_DADDR_OFFSET;
  return [payloadLoad(NFT_PAYLOAD_NETWORK_HEADER, offset, 4), lookup(set, setId)];
}
