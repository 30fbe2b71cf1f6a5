import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptAllFilter,
  assemble,
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_MISC,
  BPF_MSH,
  BPF_RET,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  type BpfInstruction,
  decodeBpf,
  dhcpBridgePortFilter,
  dhcpServerFilter,
  encodeBpf,
  FULL_FRAME_SNAPLEN,
  ipv6BridgePortFilter,
  jump,
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_MULTICAST,
  PACKET_OTHERHOST,
  PACKET_OUTGOING,
  SKF_AD_IFINDEX,
  SKF_AD_OFF,
  SKF_AD_PKTTYPE,
  SKF_AD_VLAN_TAG_PRESENT,
  statement,
} from '../../../src/wire/bpf.ts';

// ---------- a small classic-BPF interpreter (the subset the kernel's checker accepts that our programs may use) ----------

class OutOfBounds extends Error {}

/** The receiving device's ifindex and VLAN-tag flag the interpreter reports for the ancillary loads (set per run). */
let receivingIfindex = 0;
let vlanTagPresent = 0;

function load(frame: Buffer, offset: number, size: number, pktType: number): number {
  if (offset >= SKF_AD_OFF) {
    // Ancillary data: the packet type and the receiving device's ifindex are modelled.
    if (offset - SKF_AD_OFF === SKF_AD_PKTTYPE) return pktType;
    if (offset - SKF_AD_OFF === SKF_AD_IFINDEX) return receivingIfindex;
    if (offset - SKF_AD_OFF === SKF_AD_VLAN_TAG_PRESENT) return vlanTagPresent;
    throw new Error(`unsupported ancillary load ${offset - SKF_AD_OFF}`);
  }
  if (offset < 0 || offset + size > frame.length) throw new OutOfBounds();
  if (size === 4) return frame.readUInt32BE(offset);
  if (size === 2) return frame.readUInt16BE(offset);
  return frame.readUInt8(offset);
}

const sizeOf = (code: number): number => {
  const size = code & 0x18;
  return size === BPF_W ? 4 : size === BPF_H ? 2 : 1;
};

/** Runs a program like the kernel does: returns the snap length, 0 when a load falls outside the frame. */
function runBpf(program: readonly BpfInstruction[], frame: Buffer, pktType: number, ifindex = 0, vlanTagged = false): number {
  receivingIfindex = ifindex;
  vlanTagPresent = vlanTagged ? 1 : 0;
  let a = 0;
  let x = 0;
  let pc = 0;
  for (let steps = 0; steps < 4096; steps++) {
    const insn = program[pc];
    if (!insn) throw new Error(`fell off the program at ${pc}`);
    pc++;
    const { code, k } = insn;
    try {
      switch (code & 0x07) {
        case BPF_LD:
          switch (code & 0xe0) {
            case BPF_ABS:
              a = load(frame, k, sizeOf(code), pktType);
              break;
            case BPF_IND:
              a = load(frame, (x + k) >>> 0, sizeOf(code), pktType);
              break;
            case BPF_LEN:
              a = frame.length;
              break;
            case BPF_IMM:
              a = k;
              break;
            default:
              throw new Error(`unsupported ld mode ${code}`);
          }
          break;
        case BPF_LDX:
          if ((code & 0xe0) === BPF_MSH && (code & 0x18) === BPF_B) x = 4 * (load(frame, k, 1, pktType) & 0xf);
          else if ((code & 0xe0) === BPF_IMM) x = k;
          else throw new Error(`unsupported ldx ${code}`);
          break;
        case BPF_ALU: {
          const operand = (code & 0x08) === BPF_X ? x : k;
          if ((code & 0xf0) === BPF_AND) a = (a & operand) >>> 0;
          else if ((code & 0xf0) === BPF_ADD) a = (a + operand) >>> 0;
          else throw new Error(`unsupported alu ${code}`);
          break;
        }
        case BPF_JMP: {
          const operand = (code & 0x08) === BPF_X ? x : k;
          let taken: boolean;
          switch (code & 0xf0) {
            case BPF_JA:
              pc += k;
              continue;
            case BPF_JEQ:
              taken = a === operand;
              break;
            case BPF_JGT:
              taken = a > operand;
              break;
            case BPF_JGE:
              taken = a >= operand;
              break;
            case BPF_JSET:
              taken = (a & operand) !== 0;
              break;
            default:
              throw new Error(`unsupported jmp ${code}`);
          }
          pc += taken ? insn.jt : insn.jf;
          break;
        }
        case BPF_RET:
          return (code & 0x18) === BPF_A ? a : k;
        case BPF_MISC:
          if ((code & 0xf8) === BPF_TAX) x = a;
          else if ((code & 0xf8) === BPF_TXA) a = x;
          break;
        default:
          throw new Error(`unsupported class in ${code}`);
      }
    } catch (err) {
      if (err instanceof OutOfBounds) return 0;
      throw err;
    }
  }
  throw new Error('program did not return');
}

// ---------- frame builders (just enough header for the filter; checksums are irrelevant here) ----------

const ETH_BROADCAST = Buffer.from('ffffffffffff', 'hex');
const CLIENT_MAC = Buffer.from('021ab0000001', 'hex');

function ethernet(etherType: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(14);
  ETH_BROADCAST.copy(header, 0);
  CLIENT_MAC.copy(header, 6);
  header.writeUInt16BE(etherType, 12);
  return Buffer.concat([header, payload]);
}

interface IPv4Shape {
  protocol: number;
  optionWords?: number; // 32-bit words of IP options (IHL = 5 + optionWords)
  flagsAndFragmentOffset?: number;
}

function ipv4(shape: IPv4Shape, payload: Buffer): Buffer {
  const headerLength = 20 + 4 * (shape.optionWords ?? 0);
  const header = Buffer.alloc(headerLength);
  header.writeUInt8(0x40 | (headerLength / 4), 0);
  header.writeUInt16BE(headerLength + payload.length, 2);
  header.writeUInt16BE(shape.flagsAndFragmentOffset ?? 0, 6);
  header.writeUInt8(64, 8);
  header.writeUInt8(shape.protocol, 9);
  header.writeUInt32BE(0, 12);
  header.writeUInt32BE(0xffffffff, 16);
  for (let i = 20; i < headerLength; i++) header[i] = 0x01; // NOP options
  return Buffer.concat([header, payload]);
}

function transport(sourcePort: number, destinationPort: number, rest = 8): Buffer {
  const header = Buffer.alloc(8 + rest);
  header.writeUInt16BE(sourcePort, 0);
  header.writeUInt16BE(destinationPort, 2);
  header.writeUInt16BE(header.length, 4);
  return header;
}

const UDP = 17;
const TCP = 6;
const dhcpToServer = ethernet(0x0800, ipv4({ protocol: UDP }, transport(68, 67, 300)));
const udpToClientPort = ethernet(0x0800, ipv4({ protocol: UDP }, transport(67, 68, 300)));
const tcpToPort67 = ethernet(0x0800, ipv4({ protocol: TCP }, transport(40000, 67, 20)));
const arpRequest = ethernet(0x0806, Buffer.alloc(28, 0x11));
const ipv6Udp = ethernet(0x86dd, Buffer.alloc(48 + 8, 0));
// A later fragment of a datagram: the bytes where a UDP header would be are payload that happens to read as port 67.
const nonFirstFragment = ethernet(0x0800, ipv4({ protocol: UDP, flagsAndFragmentOffset: 185 }, transport(68, 67, 64)));
const firstFragmentMoreFollowing = ethernet(0x0800, ipv4({ protocol: UDP, flagsAndFragmentOffset: 0x2000 }, transport(68, 67, 64)));
const dhcpWithIpOptions = ethernet(0x0800, ipv4({ protocol: UDP, optionWords: 1 }, transport(68, 67, 300)));
// Same frame, but what sits at "20 bytes after the IP start" says 67 while the real UDP header (after options) says 68.
const optionsHidingPort68 = (() => {
  const frame = ethernet(0x0800, ipv4({ protocol: UDP, optionWords: 1 }, transport(68, 68, 300)));
  frame.writeUInt16BE(67, 36); // inside the IP options: where a 20-byte IP header would put the UDP destination port
  return frame;
})();
const truncatedIpv4 = dhcpToServer.subarray(0, 14 + 20 + 2); // cut before the destination port

const dhcp = decodeBpf(dhcpServerFilter());
const all = decodeBpf(acceptAllFilter());

test('dhcpServerFilter accepts a DHCP request to port 67 with a full-frame snap length', () => {
  assert.equal(runBpf(dhcp, dhcpToServer, PACKET_BROADCAST), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(dhcp, dhcpToServer, PACKET_HOST), FULL_FRAME_SNAPLEN);
  assert.ok(FULL_FRAME_SNAPLEN >= 65535 + 14, 'snap length covers any frame');
});

test('dhcpServerFilter rejects UDP to port 68', () => {
  assert.equal(runBpf(dhcp, udpToClientPort, PACKET_BROADCAST), 0);
});

test('dhcpServerFilter rejects TCP to port 67', () => {
  assert.equal(runBpf(dhcp, tcpToPort67, PACKET_HOST), 0);
});

test('dhcpServerFilter accepts ARP', () => {
  assert.equal(runBpf(dhcp, arpRequest, PACKET_BROADCAST), FULL_FRAME_SNAPLEN);
});

test('dhcpServerFilter rejects IPv6', () => {
  assert.equal(runBpf(dhcp, ipv6Udp, PACKET_MULTICAST), 0);
});

test('dhcpServerFilter rejects a non-first fragment but accepts a first fragment', () => {
  assert.equal(runBpf(dhcp, nonFirstFragment, PACKET_HOST), 0);
  assert.equal(runBpf(dhcp, firstFragmentMoreFollowing, PACKET_HOST), FULL_FRAME_SNAPLEN);
});

test('dhcpServerFilter finds the UDP header after IP options (IHL 6)', () => {
  assert.equal(dhcpWithIpOptions[14], 0x46);
  assert.equal(runBpf(dhcp, dhcpWithIpOptions, PACKET_BROADCAST), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(dhcp, optionsHidingPort68, PACKET_BROADCAST), 0);
});

test('dhcpServerFilter rejects a frame cut short before the UDP destination port', () => {
  assert.equal(runBpf(dhcp, truncatedIpv4, PACKET_HOST), 0);
});

test('dhcpServerFilter rejects PACKET_OUTGOING even for DHCP and ARP', () => {
  assert.equal(runBpf(dhcp, dhcpToServer, PACKET_OUTGOING), 0);
  assert.equal(runBpf(dhcp, arpRequest, PACKET_OUTGOING), 0);
});

test('acceptAllFilter accepts everything except PACKET_OUTGOING', () => {
  for (const frame of [dhcpToServer, udpToClientPort, tcpToPort67, arpRequest, ipv6Udp, nonFirstFragment]) {
    for (const pktType of [PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST]) {
      assert.equal(runBpf(all, frame, pktType), FULL_FRAME_SNAPLEN);
    }
    assert.equal(runBpf(all, frame, PACKET_OUTGOING), 0);
  }
});

test('programs load the packet type through the kernel ancillary offset', () => {
  for (const program of [dhcp, all]) {
    assert.deepEqual(program[0], { code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k: SKF_AD_OFF + SKF_AD_PKTTYPE });
  }
  assert.equal(SKF_AD_OFF, 0x100000000 - 0x1000);
});

test('dhcpServerFilter reads the IHL with ldxb 4*([14]&0xf) and the port relative to X', () => {
  assert.ok(dhcp.some((i) => i.code === (BPF_LDX | BPF_B | BPF_MSH) && i.k === 14));
  assert.ok(dhcp.some((i) => i.code === (BPF_LD | BPF_H | BPF_IND) && i.k === 16));
});

test('encodeBpf writes struct sock_filter in host byte order, 8 bytes per instruction', () => {
  const encoded = encodeBpf([jump(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 3, 7), statement(BPF_RET | BPF_K, 0x40000)]);
  assert.equal(encoded.length, 16);
  const expected = Buffer.alloc(16);
  // This machine is little-endian (x86-64/arm64); the code field and k are stored that way.
  expected.writeUInt16LE(0x15, 0);
  expected[2] = 3;
  expected[3] = 7;
  expected.writeUInt32LE(0x0806, 4);
  expected.writeUInt16LE(0x06, 8);
  expected.writeUInt32LE(0x40000, 12);
  assert.deepEqual(encoded, expected);
  assert.deepEqual(decodeBpf(encoded), [
    { code: 0x15, jt: 3, jf: 7, k: 0x0806 },
    { code: 0x06, jt: 0, jf: 0, k: 0x40000 },
  ]);
});

test('encodeBpf refuses jump offsets that do not fit a byte', () => {
  assert.throws(() => encodeBpf([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 256, 0)]), RangeError);
});

test('assemble resolves labels to forward offsets and rejects unknown or backward targets', () => {
  const program = assemble([
    statement(BPF_LD | BPF_H | BPF_ABS, 12),
    { code: BPF_JMP | BPF_JEQ | BPF_K, k: 0x0806, ifTrue: 'yes', ifFalse: null },
    statement(BPF_RET | BPF_K, 0),
    { label: 'yes' },
    statement(BPF_RET | BPF_K, 1),
  ]);
  assert.deepEqual(program[1], { code: BPF_JMP | BPF_JEQ | BPF_K, jt: 1, jf: 0, k: 0x0806 });
  assert.throws(() => assemble([{ code: BPF_JMP | BPF_JEQ | BPF_K, k: 0, ifTrue: 'nowhere', ifFalse: null }]));
  assert.throws(() => assemble([{ label: 'back' }, { code: BPF_JMP | BPF_JEQ | BPF_K, k: 0, ifTrue: 'back', ifFalse: null }]));
});

test('the interpreter itself rejects when it should (guards against a test that cannot fail)', () => {
  const rejectAll = assemble([statement(BPF_RET | BPF_K, 0)]);
  assert.equal(runBpf(rejectAll, dhcpToServer, PACKET_HOST), 0);
  const snapFromA = assemble([statement(BPF_LD | BPF_W | BPF_LEN, 0), statement(BPF_RET | BPF_A, 0)]);
  assert.equal(runBpf(snapFromA, arpRequest, PACKET_HOST), arpRequest.length);
  const alu = assemble([statement(BPF_LD | BPF_IMM, 0xff0), statement(BPF_ALU | BPF_AND | BPF_K, 0x0f0), statement(BPF_RET | BPF_A, 0)]);
  assert.equal(runBpf(alu, arpRequest, PACKET_HOST), 0xf0);
});

// ---------- dhcpBridgePortFilter: a socket on all interfaces that must see each request once, on its bridge port ----------

const BRIDGE_IFINDEX = 7;
const PORT_IFINDEX = 12;
const ports = decodeBpf(dhcpBridgePortFilter(BRIDGE_IFINDEX));

test('dhcpBridgePortFilter accepts DHCP and ARP arriving on a bridge port (any other ifindex than the bridge)', () => {
  assert.equal(runBpf(ports, dhcpToServer, PACKET_BROADCAST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(ports, dhcpToServer, PACKET_OTHERHOST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(ports, arpRequest, PACKET_BROADCAST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(ports, dhcpWithIpOptions, PACKET_BROADCAST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
});

test('dhcpBridgePortFilter rejects the copy the bridge passes up on the bridge device itself', () => {
  assert.equal(runBpf(ports, dhcpToServer, PACKET_BROADCAST, BRIDGE_IFINDEX), 0);
  assert.equal(runBpf(ports, dhcpToServer, PACKET_HOST, BRIDGE_IFINDEX), 0);
  assert.equal(runBpf(ports, arpRequest, PACKET_BROADCAST, BRIDGE_IFINDEX), 0);
});

test('dhcpBridgePortFilter rejects PACKET_OUTGOING on ports (our replies, frames flooded out of other ports)', () => {
  assert.equal(runBpf(ports, dhcpToServer, PACKET_OUTGOING, PORT_IFINDEX), 0);
  assert.equal(runBpf(ports, arpRequest, PACKET_OUTGOING, PORT_IFINDEX), 0);
});

test('dhcpBridgePortFilter keeps the DHCP rules of dhcpServerFilter on ports', () => {
  for (const frame of [udpToClientPort, tcpToPort67, ipv6Udp, nonFirstFragment, optionsHidingPort68, truncatedIpv4]) {
    assert.equal(runBpf(ports, frame, PACKET_BROADCAST, PORT_IFINDEX), 0);
  }
  assert.equal(runBpf(ports, firstFragmentMoreFollowing, PACKET_HOST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
});

test("dhcpBridgePortFilter rejects frames that carried an 802.1Q tag on the port (another VLAN's network)", () => {
  assert.equal(runBpf(ports, dhcpToServer, PACKET_BROADCAST, PORT_IFINDEX, true), 0);
  assert.equal(runBpf(ports, arpRequest, PACKET_BROADCAST, PORT_IFINDEX, true), 0);
  assert.equal(runBpf(ports, dhcpToServer, PACKET_BROADCAST, PORT_IFINDEX, false), FULL_FRAME_SNAPLEN);
  assert.ok(ports.some((i) => i.code === (BPF_LD | BPF_W | BPF_ABS) && i.k === SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT));
});

test('dhcpBridgePortFilter loads the ifindex through the kernel ancillary offset and compares it with the bridge', () => {
  assert.deepEqual(ports[2], { code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k: SKF_AD_OFF + SKF_AD_IFINDEX });
  assert.equal(ports[3]?.code, BPF_JMP | BPF_JEQ | BPF_K);
  assert.equal(ports[3]?.k, BRIDGE_IFINDEX);
  assert.throws(() => dhcpBridgePortFilter(0), RangeError);
  assert.throws(() => dhcpBridgePortFilter(1.5), RangeError);
});

// ---------- ipv6BridgePortFilter: router solicitations and DHCPv6 to the server, on a bridge port ----------

/** Ethernet + a 40-byte IPv6 header with `nextHeader` + `upper` (checksums are irrelevant to the filter). */
function ipv6(nextHeader: number, upper: Buffer): Buffer {
  const header = Buffer.alloc(40);
  header.writeUInt32BE(0x60000000, 0);
  header.writeUInt16BE(upper.length, 4);
  header[6] = nextHeader;
  header[7] = 255;
  return ethernet(0x86dd, Buffer.concat([header, upper]));
}
const icmpv6 = (type: number): Buffer => Buffer.from([type, 0, 0, 0, 0, 0, 0, 0]);
const routerSolicitation = ipv6(58, icmpv6(133));
const dhcpv6ToServer = ipv6(UDP, transport(546, 547, 40));
const v6 = decodeBpf(ipv6BridgePortFilter(BRIDGE_IFINDEX));

test('ipv6BridgePortFilter accepts a router solicitation and UDP to port 547 on a bridge port', () => {
  for (const pktType of [PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST]) {
    assert.equal(runBpf(v6, routerSolicitation, pktType, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
    assert.equal(runBpf(v6, dhcpv6ToServer, pktType, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
  }
});

test('ipv6BridgePortFilter for one kind: the RS socket takes only solicitations, the DHCPv6 socket only UDP to 547', () => {
  const rsOnly = decodeBpf(ipv6BridgePortFilter(BRIDGE_IFINDEX, 'router-solicitation'));
  const dhcp6Only = decodeBpf(ipv6BridgePortFilter(BRIDGE_IFINDEX, 'dhcp6'));
  assert.equal(runBpf(rsOnly, routerSolicitation, PACKET_MULTICAST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(rsOnly, dhcpv6ToServer, PACKET_MULTICAST, PORT_IFINDEX), 0);
  assert.equal(runBpf(dhcp6Only, dhcpv6ToServer, PACKET_MULTICAST, PORT_IFINDEX), FULL_FRAME_SNAPLEN);
  assert.equal(runBpf(dhcp6Only, routerSolicitation, PACKET_MULTICAST, PORT_IFINDEX), 0);
  for (const program of [rsOnly, dhcp6Only]) {
    assert.equal(runBpf(program, ipv6(58, icmpv6(135)), PACKET_MULTICAST, PORT_IFINDEX), 0, 'neighbour solicitation');
    assert.equal(runBpf(program, routerSolicitation, PACKET_MULTICAST, BRIDGE_IFINDEX), 0, 'on the bridge itself');
  }
});

test('ipv6BridgePortFilter rejects other ICMPv6 types, other UDP ports and other protocols', () => {
  // 134 RA (our own, or a rogue router's), 135/136 neighbour discovery, 143 MLDv2 report, 128 echo request
  for (const type of [128, 134, 135, 136, 137, 143]) assert.equal(runBpf(v6, ipv6(58, icmpv6(type)), PACKET_MULTICAST, PORT_IFINDEX), 0, `type ${type}`);
  assert.equal(runBpf(v6, ipv6(UDP, transport(547, 546, 40)), PACKET_MULTICAST, PORT_IFINDEX), 0, 'DHCPv6 to a client');
  assert.equal(runBpf(v6, ipv6(UDP, transport(5353, 53, 40)), PACKET_MULTICAST, PORT_IFINDEX), 0);
  assert.equal(runBpf(v6, ipv6(TCP, transport(40000, 547, 20)), PACKET_HOST, PORT_IFINDEX), 0, 'TCP to 547');
  // A hop-by-hop header in front of an RS or UDP: the upper layer is not where the filter looks, so it is not ours.
  assert.equal(runBpf(v6, ipv6(0, Buffer.concat([Buffer.from([58, 0, 5, 2, 0, 0, 1, 0]), icmpv6(133)])), PACKET_MULTICAST, PORT_IFINDEX), 0);
});

test('ipv6BridgePortFilter rejects IPv4, ARP and frames cut short', () => {
  assert.equal(runBpf(v6, dhcpToServer, PACKET_BROADCAST, PORT_IFINDEX), 0);
  assert.equal(runBpf(v6, arpRequest, PACKET_BROADCAST, PORT_IFINDEX), 0);
  assert.equal(runBpf(v6, routerSolicitation.subarray(0, 54), PACKET_MULTICAST, PORT_IFINDEX), 0, 'no ICMPv6 type byte');
  assert.equal(runBpf(v6, dhcpv6ToServer.subarray(0, 57), PACKET_MULTICAST, PORT_IFINDEX), 0, 'no UDP destination port');
});

test('ipv6BridgePortFilter keeps the bridge-port rules: not outgoing, not on the bridge itself, no VLAN tag', () => {
  assert.equal(runBpf(v6, routerSolicitation, PACKET_OUTGOING, PORT_IFINDEX), 0);
  assert.equal(runBpf(v6, dhcpv6ToServer, PACKET_OUTGOING, PORT_IFINDEX), 0);
  assert.equal(runBpf(v6, routerSolicitation, PACKET_MULTICAST, BRIDGE_IFINDEX), 0);
  assert.equal(runBpf(v6, dhcpv6ToServer, PACKET_HOST, BRIDGE_IFINDEX), 0);
  assert.equal(runBpf(v6, routerSolicitation, PACKET_MULTICAST, PORT_IFINDEX, true), 0);
  assert.equal(runBpf(v6, dhcpv6ToServer, PACKET_MULTICAST, PORT_IFINDEX, true), 0);
  assert.throws(() => ipv6BridgePortFilter(0), RangeError);
  assert.throws(() => ipv6BridgePortFilter(-3), RangeError);
});
