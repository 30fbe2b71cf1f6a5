/**
 * Our `ip6 lxc-dhcpd` table: the IPv6 twin of the `ip lxc-dhcpd` table (kept as it is, in its own family so either can
 * be installed or deleted alone). Input: ICMPv6 neighbour discovery and MLD, DHCPv6 and DNS from the bridge; forward:
 * everything from the bridge, and established/related traffic back to it; NAT66 masquerade of the bridge's /64 when on.
 * Pure rule building here (unit-tested byte for byte); installRules6/deleteTable6 send the batches.
 */
import { formatIPv6 } from '../net/address6.ts';
import { allocateSeqs, withNfnetlinkSocket } from './nfnetlink-socket.ts';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  immediateVerdict,
  masquerade,
  matchCtStateEstablishedRelated,
  matchDestinationPort,
  matchIcmpv6Type,
  matchInterfaceName,
  matchInterfaceNameNot,
  matchIpv6Prefix64,
  NF_ACCEPT,
  NFT_CMP_EQ,
} from './nftables-expressions.ts';
import { type BaseChainSpec, buildDeleteBatch, buildTableBatch, LXC_DHCPD_TABLE, lxcDhcpdChains, NFPROTO_IPV6, type RuleSpec } from './nftables-messages.ts';

export interface Ruleset6Options {
  bridge: string;
  /** The bridge's /64 (16 bytes; bits after 64 are ignored). */
  prefix: Uint8Array;
  /** Masquerade only traffic leaving through this interface; any interface but the bridge when absent. */
  uplink?: string;
  nat6: boolean;
  firewall: boolean;
}

/**
 * ICMPv6 a router must take from its link: router solicitation, router advertisement, neighbour solicitation and
 * advertisement (RFC 4861 §4.1-4.4: types 133-136), and MLD (RFC 2710 §3: 130-132; RFC 3810 §5.2: 143), which the
 * bridge's multicast snooping and the kernel's group membership need.
 */
const ICMPV6_ND_TYPES: readonly [string, number][] = [
  ['nd-router-solicit', 133],
  ['nd-router-advert', 134],
  ['nd-neighbor-solicit', 135],
  ['nd-neighbor-advert', 136],
  ['mld-listener-query', 130],
  ['mld-listener-report', 131],
  ['mld-listener-done', 132],
  ['mld2-listener-report', 143],
];

/** UDP 547: DHCPv6 servers and relay agents (RFC 8415 §7.2); DNS over UDP and TCP 53. */
const INPUT_PORTS6: readonly [string, typeof IPPROTO_UDP | typeof IPPROTO_TCP, number][] = [
  ['udp', IPPROTO_UDP, 547],
  ['udp', IPPROTO_UDP, 53],
  ['tcp', IPPROTO_TCP, 53],
];

/** The base chains: the IPv4 table's chains with nat6 in place of nat, every one with policy accept. */
export function lxcDhcpdChains6(options: Pick<Ruleset6Options, 'nat6' | 'firewall'>): BaseChainSpec[] {
  return lxcDhcpdChains({ nat: options.nat6, firewall: options.firewall });
}

function masqueradeRule(options: Ruleset6Options): RuleSpec {
  const net = `${formatIPv6(Buffer.concat([options.prefix.subarray(0, 8), Buffer.alloc(8)]))}/64`;
  const out = options.uplink !== undefined ? matchInterfaceName('oifname', options.uplink) : matchInterfaceNameNot('oifname', options.bridge);
  const outText = options.uplink !== undefined ? `oifname ${JSON.stringify(options.uplink)}` : `oifname != ${JSON.stringify(options.bridge)}`;
  return {
    chain: 'postrouting',
    text: `ip6 saddr ${net} ${outText} masquerade`,
    expressions: [...matchIpv6Prefix64('saddr', NFT_CMP_EQ, options.prefix), ...out, masquerade()],
  };
}

function inputRules(bridgeName: string): RuleSpec[] {
  const bridge = JSON.stringify(bridgeName);
  const fromBridge = matchInterfaceName('iifname', bridgeName);
  const accept = immediateVerdict(NF_ACCEPT);
  const rules: RuleSpec[] = ICMPV6_ND_TYPES.map(([name, type]) => ({
    chain: 'input',
    text: `iifname ${bridge} icmpv6 type ${name} accept`,
    expressions: [...fromBridge, ...matchIcmpv6Type(type), accept],
  }));
  for (const [name, protocol, port] of INPUT_PORTS6) {
    rules.push({
      chain: 'input',
      text: `iifname ${bridge} ${name} dport ${port} accept`,
      expressions: [...fromBridge, ...matchDestinationPort(protocol, port), accept],
    });
  }
  return rules;
}

/** The rules, in order, with their nft-syntax text. */
export function lxcDhcpdRules6(options: Ruleset6Options): RuleSpec[] {
  const rules: RuleSpec[] = [];
  if (options.nat6) rules.push(masqueradeRule(options));
  if (options.firewall) {
    const bridge = JSON.stringify(options.bridge);
    const accept = immediateVerdict(NF_ACCEPT);
    rules.push(...inputRules(options.bridge));
    rules.push({ chain: 'forward', text: `iifname ${bridge} accept`, expressions: [...matchInterfaceName('iifname', options.bridge), accept] });
    rules.push({
      chain: 'forward',
      text: `oifname ${bridge} ct state established,related accept`,
      expressions: [...matchInterfaceName('oifname', options.bridge), ...matchCtStateEstablishedRelated(), accept],
    });
  }
  return rules;
}

/** Replaces our ip6 table with a fresh one in one atomic batch; returns the rules as nft lists them (`chain: rule`). */
export async function installRules6(options: Ruleset6Options): Promise<string[]> {
  const chains = lxcDhcpdChains6(options);
  const rules = lxcDhcpdRules6(options);
  const length = buildTableBatch(NFPROTO_IPV6, chains, rules, 1).length;
  const batch = buildTableBatch(NFPROTO_IPV6, chains, rules, allocateSeqs(length));
  await withNfnetlinkSocket((socket) => socket.sendBatch(batch));
  return rules.map((rule) => `${rule.chain}: ${rule.text}`);
}

/** Deletes our ip6 table; does nothing when it does not exist. */
export async function deleteTable6(): Promise<void> {
  const batch = buildDeleteBatch(allocateSeqs(4), NFPROTO_IPV6);
  await withNfnetlinkSocket((socket) => socket.sendBatch(batch));
}

export const TABLE6_NAME = `ip6 ${LXC_DHCPD_TABLE}`;
