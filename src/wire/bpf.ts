/**
 * Classic BPF programs for the AF_PACKET socket (SO_ATTACH_FILTER).
 *
 * The kernel runs the program on every frame of the bound interface before queueing it; what it returns is the number
 * of bytes to keep (0 drops the frame). Programs are encoded as `struct sock_filter` entries, 8 bytes each in host byte
 * order: u16 code, u8 jt, u8 jf, u32 k.
 */
import { endianness } from 'node:os';

// Instruction classes
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
// Load sizes
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
// Load modes
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
// ALU operations
export const BPF_ADD = 0x00;
export const BPF_AND = 0x50;
// Jump operations
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
// Operand source (BPF_A: return the accumulator)
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
// MISC operations
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** Offset of the kernel's ancillary data "fields" for absolute loads (SKF_AD_OFF, -0x1000 as a u32). */
export const SKF_AD_OFF = 0xfffff000;
export const SKF_AD_PKTTYPE = 4;
/** Ancillary load of the receiving device's ifindex (skb->dev->ifindex). */
export const SKF_AD_IFINDEX = 8;
/** Ancillary load: 1 when the frame carried an 802.1Q tag (kept in metadata, not in the bytes the filter reads). */
export const SKF_AD_VLAN_TAG_PRESENT = 48;

/** sll_pkttype values (linux/if_packet.h). */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IP_PROTOCOL_UDP = 17;
const DHCP_SERVER_PORT = 67;
export const ETHERTYPE_IPV6 = 0x86dd;
export const IP_PROTOCOL_ICMPV6 = 58;
/** RFC 4861 §4.1. */
const ICMPV6_ROUTER_SOLICITATION = 133;
/** RFC 8415 §7.2: servers and relay agents listen on 547. */
const DHCPV6_SERVER_PORT = 547;

/** Bytes a filter asks the kernel to keep: more than any frame, so nothing is cut (libpcap's maximum snaplen). */
export const FULL_FRAME_SNAPLEN = 0x40000;

const SOCK_FILTER_BYTES = 8;
const IP_FRAGMENT_OFFSET_MASK = 0x1fff;

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A non-jump instruction. */
export function statement(code: number, k: number): BpfInstruction {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

/** A conditional jump; jt/jf count instructions to skip after this one. */
export function jump(code: number, k: number, jt: number, jf: number): BpfInstruction {
  return { code, jt, jf, k: k >>> 0 };
}

/** Encodes instructions as the `struct sock_filter` array SO_ATTACH_FILTER takes. */
export function encodeBpf(program: readonly BpfInstruction[]): Buffer {
  const littleEndian = endianness() === 'LE';
  const out = Buffer.alloc(program.length * SOCK_FILTER_BYTES);
  program.forEach((insn, index) => {
    if (insn.jt > 255 || insn.jf > 255) throw new RangeError(`BPF instruction ${index}: jump offset beyond 255`);
    const at = index * SOCK_FILTER_BYTES;
    if (littleEndian) {
      out.writeUInt16LE(insn.code, at);
      out.writeUInt32LE(insn.k >>> 0, at + 4);
    } else {
      out.writeUInt16BE(insn.code, at);
      out.writeUInt32BE(insn.k >>> 0, at + 4);
    }
    out.writeUInt8(insn.jt, at + 2);
    out.writeUInt8(insn.jf, at + 3);
  });
  return out;
}

/** Decodes a program encoded by encodeBpf (host byte order). */
export function decodeBpf(encoded: Buffer): BpfInstruction[] {
  if (encoded.length % SOCK_FILTER_BYTES !== 0) throw new RangeError('BPF program length is not a multiple of 8');
  const littleEndian = endianness() === 'LE';
  const program: BpfInstruction[] = [];
  for (let at = 0; at < encoded.length; at += SOCK_FILTER_BYTES) {
    program.push({
      code: littleEndian ? encoded.readUInt16LE(at) : encoded.readUInt16BE(at),
      jt: encoded.readUInt8(at + 2),
      jf: encoded.readUInt8(at + 3),
      k: littleEndian ? encoded.readUInt32LE(at + 4) : encoded.readUInt32BE(at + 4),
    });
  }
  return program;
}

/** A jump whose targets are label names (null: fall through to the next instruction). */
interface LabelledJump {
  code: number;
  k: number;
  ifTrue: string | null;
  ifFalse: string | null;
}
interface Label {
  label: string;
}
type ProgramLine = BpfInstruction | LabelledJump | Label;

const isLabel = (line: ProgramLine): line is Label => 'label' in line;
const isLabelledJump = (line: ProgramLine): line is LabelledJump => 'ifTrue' in line;

/** Resolves label names to the forward offsets classic BPF jumps use. */
export function assemble(lines: readonly ProgramLine[]): BpfInstruction[] {
  const labelIndex = new Map<string, number>();
  let count = 0;
  for (const line of lines) {
    if (isLabel(line)) labelIndex.set(line.label, count);
    else count++;
  }
  const program: BpfInstruction[] = [];
  const offsetTo = (target: string | null, from: number): number => {
    if (target === null) return 0;
    const index = labelIndex.get(target);
    if (index === undefined) throw new Error(`BPF label ${target} is not defined`);
    if (index <= from) throw new Error(`BPF jump to ${target} goes backwards`);
    return index - from - 1;
  };
  for (const line of lines) {
    if (isLabel(line)) continue;
    const index = program.length;
    program.push(isLabelledJump(line) ? jump(line.code, line.k, offsetTo(line.ifTrue, index), offsetTo(line.ifFalse, index)) : line);
  }
  return program;
}

const label = (name: string): Label => ({ label: name });
const loadPacketType = (): BpfInstruction => statement(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
const loadIfindex = (): BpfInstruction => statement(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_IFINDEX);
const loadVlanTagPresent = (): BpfInstruction => statement(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT);
const loadHalfword = (offset: number): BpfInstruction => statement(BPF_LD | BPF_H | BPF_ABS, offset);
const loadByte = (offset: number): BpfInstruction => statement(BPF_LD | BPF_B | BPF_ABS, offset);
/** X = 4 * (frame[offset] & 0xf): the IPv4 header length from its IHL nibble. */
const loadHeaderLengthToX = (offset: number): BpfInstruction => statement(BPF_LDX | BPF_B | BPF_MSH, offset);
const loadHalfwordAfterX = (offset: number): BpfInstruction => statement(BPF_LD | BPF_H | BPF_IND, offset);
const ifEqual = (k: number, ifTrue: string | null, ifFalse: string | null): LabelledJump => ({
  code: BPF_JMP | BPF_JEQ | BPF_K,
  k,
  ifTrue,
  ifFalse,
});
const ifAnyBit = (k: number, ifTrue: string | null, ifFalse: string | null): LabelledJump => ({
  code: BPF_JMP | BPF_JSET | BPF_K,
  k,
  ifTrue,
  ifFalse,
});
const returnSnaplen = (bytes: number): BpfInstruction => statement(BPF_RET | BPF_K, bytes);

// Byte offsets in an untagged Ethernet frame.
const ETHERTYPE_OFFSET = 12;
const IPV4_START = 14;
const IPV4_PROTOCOL_OFFSET = IPV4_START + 9;
const IPV4_FLAGS_FRAGMENT_OFFSET = IPV4_START + 6;
/** Relative to X = IPv4 header length: Ethernet header + 2 bytes of UDP source port. */
const UDP_DESTINATION_PORT_AFTER_IP = IPV4_START + 2;

/** ARP, or IPv4/UDP to port 67 that is not a non-first fragment, jumping to 'accept' or 'reject'. */
const DHCP_OR_ARP: readonly ProgramLine[] = [
  loadHalfword(ETHERTYPE_OFFSET),
  ifEqual(ETHERTYPE_ARP, 'accept', null),
  ifEqual(ETHERTYPE_IPV4, null, 'reject'),
  loadByte(IPV4_PROTOCOL_OFFSET),
  ifEqual(IP_PROTOCOL_UDP, null, 'reject'),
  loadHalfword(IPV4_FLAGS_FRAGMENT_OFFSET),
  ifAnyBit(IP_FRAGMENT_OFFSET_MASK, 'reject', null),
  loadHeaderLengthToX(IPV4_START),
  loadHalfwordAfterX(UDP_DESTINATION_PORT_AFTER_IP),
  ifEqual(DHCP_SERVER_PORT, 'accept', 'reject'),
  label('accept'),
  returnSnaplen(FULL_FRAME_SNAPLEN),
  label('reject'),
  returnSnaplen(0),
];

/**
 * Accepts frames that are not PACKET_OUTGOING and are either ARP, or IPv4/UDP to port 67 that is not a non-first
 * fragment (a later fragment has no UDP header where we would read the port).
 * A load past the end of a frame makes the kernel return 0, so runt frames are dropped as well.
 */
export function dhcpServerFilter(): Buffer {
  return encodeBpf(assemble([loadPacketType(), ifEqual(PACKET_OUTGOING, 'reject', null), ...DHCP_OR_ARP]));
}

/**
 * dhcpServerFilter for a socket that receives on every interface (PacketSocket `bridgePorts`): also rejects frames on
 * the bridge device itself. A frame from a container is seen by such a socket twice, first on its bridge port (the
 * veth, before the bridge takes it) and again on the bridge when the bridge passes it up to the host; only the first
 * says which port it came from. Frames on other interfaces (the uplink, lo, another bridge) pass and are dropped in JS
 * once they are known not to be ports of this bridge. A frame with an 802.1Q tag is rejected too: on a port, before the
 * bridge, a tag is what the sender put there (a request for another VLAN's network, not for our untagged subnet), and
 * the kernel keeps it in metadata, so the bytes the program reads would look untagged.
 */
export function dhcpBridgePortFilter(bridgeIfindex: number): Buffer {
  return encodeBpf(assemble([...bridgePortOnly(bridgeIfindex), ...DHCP_OR_ARP]));
}

/** The bridge-port rules every socket on all interfaces starts with: not outgoing, not the bridge itself, untagged. */
function bridgePortOnly(bridgeIfindex: number): ProgramLine[] {
  if (!Number.isInteger(bridgeIfindex) || bridgeIfindex <= 0) throw new RangeError(`bridge ifindex ${bridgeIfindex} is not a positive integer`);
  return [
    loadPacketType(),
    ifEqual(PACKET_OUTGOING, 'reject', null),
    loadIfindex(),
    ifEqual(bridgeIfindex, 'reject', null),
    loadVlanTagPresent(),
    ifEqual(0, null, 'reject'),
  ];
}

// Byte offsets in an untagged Ethernet frame carrying IPv6 with no extension header (one there is rejected by the
// next-header test: only the upper layers themselves are accepted).
const IPV6_NEXT_HEADER_OFFSET = 14 + 6;
const IPV6_UPPER_START = 14 + 40;
const ICMPV6_TYPE_OFFSET = IPV6_UPPER_START;
const UDP6_DESTINATION_PORT_OFFSET = IPV6_UPPER_START + 2;

/** Which IPv6 frames a bridge-port socket takes: router solicitations, DHCPv6 to the server, or both. */
export type Ipv6FrameKinds = 'both' | 'router-solicitation' | 'dhcp6';

/**
 * For the IPv6 sockets on every interface (src/wire/ipv6-port.ts): the bridge-port rules of dhcpBridgePortFilter (not
 * outgoing, not on the bridge device itself, no 802.1Q tag), then only IPv6 whose next header is ICMPv6 type 133
 * (router solicitation) or UDP to port 547 (DHCPv6 server), or one of the two (`kinds`). Everything else a container
 * sends (neighbour discovery, MLD, its traffic) stays in the kernel. A frame too short for a load is dropped by the
 * kernel (the load returns 0).
 */
export function ipv6BridgePortFilter(bridgeIfindex: number, kinds: Ipv6FrameKinds = 'both'): Buffer {
  const icmpv6 = kinds === 'dhcp6' ? 'reject' : 'icmpv6';
  const udp = kinds === 'router-solicitation' ? 'reject' : null;
  return encodeBpf(
    assemble([
      ...bridgePortOnly(bridgeIfindex),
      loadHalfword(ETHERTYPE_OFFSET),
      ifEqual(ETHERTYPE_IPV6, null, 'reject'),
      loadByte(IPV6_NEXT_HEADER_OFFSET),
      ifEqual(IP_PROTOCOL_ICMPV6, icmpv6, null),
      ifEqual(IP_PROTOCOL_UDP, udp, 'reject'),
      loadHalfword(UDP6_DESTINATION_PORT_OFFSET),
      ifEqual(DHCPV6_SERVER_PORT, 'accept', 'reject'),
      label('icmpv6'),
      loadByte(ICMPV6_TYPE_OFFSET),
      ifEqual(ICMPV6_ROUTER_SOLICITATION, 'accept', 'reject'),
      label('accept'),
      returnSnaplen(FULL_FRAME_SNAPLEN),
      label('reject'),
      returnSnaplen(0),
    ]),
  );
}

/** Accepts every frame except PACKET_OUTGOING ones (for tests and captures). */
export function acceptAllFilter(): Buffer {
  return encodeBpf(
    assemble([loadPacketType(), ifEqual(PACKET_OUTGOING, 'reject', null), returnSnaplen(FULL_FRAME_SNAPLEN), label('reject'), returnSnaplen(0)]),
  );
}
