/**
 * nf_tables netlink messages (tables, chains, rules, batches) and the lxc-dhcpd ruleset, as pure
 * functions: what installRules() sends is built and unit-tested here, sent by nfnetlink-socket.ts.
 */

import { formatIPv4 } from '../net/address.ts';
import {
  decodeStringAttribute,
  encodeNestedAttribute,
  encodeNetlinkMessage,
  encodeNfgenHeader,
  encodeStringAttribute,
  encodeU32BeAttribute,
  NLM_F_ACK,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  parseAttributes,
  parseNfgenHeader,
} from './netlink-encoding.ts';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  immediateVerdict,
  masquerade,
  matchDestinationPort,
  matchInterfaceName,
  matchIpv4Prefix,
  NF_ACCEPT,
  NFT_CMP_EQ,
  NFT_CMP_NEQ,
} from './nftables-expressions.ts';

// linux/netfilter/nfnetlink.h
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;

// enum nf_tables_msg_types
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_DELTABLE = 2;
export const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_GETCHAIN = 4;
export const NFT_MSG_NEWRULE = 6;

// Address families (NFPROTO_*)
const NFPROTO_UNSPEC = 0;
export const NFPROTO_INET = 1;
export const NFPROTO_IPV4 = 2;
const NFPROTO_ARP = 3;
const NFPROTO_NETDEV = 5;
export const NFPROTO_BRIDGE = 7;
export const NFPROTO_IPV6 = 10;

// enum nft_table_attributes / nft_chain_attributes / nft_hook_attributes / nft_rule_attributes
const NFTA_TABLE_NAME = 1;
const NFTA_TABLE_FLAGS = 2;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_POLICY = 5;
const NFTA_CHAIN_TYPE = 7;
const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;

export const NF_INET_LOCAL_IN = 1;
export const NF_INET_FORWARD = 2;
export const NF_INET_POST_ROUTING = 4;

export const LXC_DHCPD_TABLE = 'lxc-dhcpd';

/** The nfnetlink message type of an nf_tables message. */
export function nftablesMessageType(nftMessage: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | nftMessage;
}

/** One message of a batch, with a human-readable name for error reports. */
export interface BatchMessage {
  seq: number;
  /** e.g. "NEWRULE ip lxc-dhcpd forward: iifname "lxbr0" accept" */
  description: string;
  bytes: Buffer;
}

function nfnlControlMessage(type: number, seq: number): Buffer {
  return encodeNetlinkMessage({
    type,
    flags: NLM_F_REQUEST,
    seq,
    payload: encodeNfgenHeader(NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES),
  });
}

/** NFNL_MSG_BATCH_BEGIN for the nf_tables subsystem (res_id = NFNL_SUBSYS_NFTABLES). */
export function encodeBatchBegin(seq: number): Buffer {
  return nfnlControlMessage(NFNL_MSG_BATCH_BEGIN, seq);
}

export function encodeBatchEnd(seq: number): Buffer {
  return nfnlControlMessage(NFNL_MSG_BATCH_END, seq);
}

/** One nf_tables message: the nfgenmsg header for `family`, then the attributes. */
export function nftablesMessage(nftMessage: number, flags: number, seq: number, family: number, attributes: readonly Buffer[]): Buffer {
  return encodeNetlinkMessage({
    type: nftablesMessageType(nftMessage),
    flags: NLM_F_REQUEST | flags,
    seq,
    payload: Buffer.concat([encodeNfgenHeader(family), ...attributes]),
  });
}

/** NEWTABLE (create if missing, no error if it exists). */
export function encodeNewTable(seq: number, family: number, table: string): Buffer {
  return nftablesMessage(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK, seq, family, [
    encodeStringAttribute(NFTA_TABLE_NAME, table),
    encodeU32BeAttribute(NFTA_TABLE_FLAGS, 0),
  ]);
}

/** DELTABLE: the table goes with its chains and rules. */
function encodeDeleteTable(seq: number, family: number, table: string): Buffer {
  return nftablesMessage(NFT_MSG_DELTABLE, NLM_F_ACK, seq, family, [encodeStringAttribute(NFTA_TABLE_NAME, table)]);
}

export type ChainType = 'filter' | 'nat' | 'route';

export interface BaseChainSpec {
  table: string;
  name: string;
  type: ChainType;
  hook: number;
  priority: number;
  policy: typeof NF_ACCEPT | 0;
}

/** NEWCHAIN for a base chain (attached to a hook), attribute order as nft sends it. */
export function encodeNewBaseChain(seq: number, family: number, chain: BaseChainSpec): Buffer {
  return nftablesMessage(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK, seq, family, [
    encodeStringAttribute(NFTA_CHAIN_TABLE, chain.table),
    encodeStringAttribute(NFTA_CHAIN_NAME, chain.name),
    encodeStringAttribute(NFTA_CHAIN_TYPE, chain.type),
    encodeU32BeAttribute(NFTA_CHAIN_POLICY, chain.policy),
    encodeNestedAttribute(NFTA_CHAIN_HOOK, [encodeU32BeAttribute(NFTA_HOOK_HOOKNUM, chain.hook), encodeU32BeAttribute(NFTA_HOOK_PRIORITY, chain.priority)]),
  ]);
}

/** NEWRULE appended to the end of a chain. */
export function encodeNewRule(seq: number, family: number, table: string, chain: string, expressions: readonly Buffer[]): Buffer {
  return nftablesMessage(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, seq, family, [
    encodeStringAttribute(NFTA_RULE_TABLE, table),
    encodeStringAttribute(NFTA_RULE_CHAIN, chain),
    encodeNestedAttribute(NFTA_RULE_EXPRESSIONS, expressions),
  ]);
}

/** NEWRULE without NLM_F_APPEND or a position: the kernel puts the rule at the head of the chain (`nft insert rule`). */
export function encodeInsertRule(seq: number, family: number, table: string, chain: string, expressions: readonly Buffer[]): Buffer {
  return nftablesMessage(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_ACK, seq, family, [
    encodeStringAttribute(NFTA_RULE_TABLE, table),
    encodeStringAttribute(NFTA_RULE_CHAIN, chain),
    encodeNestedAttribute(NFTA_RULE_EXPRESSIONS, expressions),
  ]);
}

/** GETCHAIN dump of every family's chains. */
export function encodeGetChainsDump(seq: number): Buffer {
  return nftablesMessage(NFT_MSG_GETCHAIN, NLM_F_DUMP, seq, NFPROTO_UNSPEC, []);
}

export interface ChainInfo {
  family: number;
  table: string;
  name: string;
  /** Base chains only. */
  hook?: number;
  priority?: number;
  /** NF_ACCEPT (1) or NF_DROP (0); base chains only. */
  policy?: number;
  type?: string;
}

/** Reads one NEWCHAIN message of a GETCHAIN dump (payload after the netlink header). */
export function parseChainMessage(payload: Buffer): ChainInfo {
  const { family } = parseNfgenHeader(payload);
  const attributes = parseAttributes(payload.subarray(4));
  const table = attributes.get(NFTA_CHAIN_TABLE);
  const name = attributes.get(NFTA_CHAIN_NAME);
  if (table === undefined || name === undefined) throw new Error('chain message without table or name');
  const chain: ChainInfo = { family, table: decodeStringAttribute(table), name: decodeStringAttribute(name) };
  const hook = attributes.get(NFTA_CHAIN_HOOK);
  if (hook !== undefined) {
    const hookAttributes = parseAttributes(hook);
    const hooknum = hookAttributes.get(NFTA_HOOK_HOOKNUM);
    const priority = hookAttributes.get(NFTA_HOOK_PRIORITY);
    if (hooknum !== undefined && hooknum.length >= 4) chain.hook = hooknum.readUInt32BE(0);
    if (priority !== undefined && priority.length >= 4) chain.priority = priority.readInt32BE(0);
  }
  const policy = attributes.get(NFTA_CHAIN_POLICY);
  if (policy !== undefined && policy.length >= 4) chain.policy = policy.readUInt32BE(0);
  const type = attributes.get(NFTA_CHAIN_TYPE);
  if (type !== undefined) chain.type = decodeStringAttribute(type);
  return chain;
}

interface TableInfo {
  family: number;
  name: string;
}

export function parseTableMessage(payload: Buffer): TableInfo {
  const { family } = parseNfgenHeader(payload);
  const name = parseAttributes(payload.subarray(4)).get(NFTA_TABLE_NAME);
  if (name === undefined) throw new Error('table message without a name');
  return { family, name: decodeStringAttribute(name) };
}

export function familyName(family: number): string {
  switch (family) {
    case NFPROTO_INET:
      return 'inet';
    case NFPROTO_IPV4:
      return 'ip';
    case NFPROTO_ARP:
      return 'arp';
    case NFPROTO_NETDEV:
      return 'netdev';
    case NFPROTO_BRIDGE:
      return 'bridge';
    case NFPROTO_IPV6:
      return 'ip6';
    default:
      return `family ${family}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The lxc-dhcpd ruleset

export interface RulesetOptions {
  /** The containers' bridge, e.g. "lxbr0". */
  bridge: string;
  /** The bridge subnet's network address (host-order u32, see src/net/address.ts) and prefix length. */
  subnet: number;
  prefixLength: number;
  /** Masquerade only traffic leaving through this interface; any interface when absent. */
  uplink?: string;
  /** Masquerade the subnet's traffic to other networks. */
  nat: boolean;
  /** Accept DHCP/DNS from the bridge on input and the bridge's traffic on forward. */
  firewall: boolean;
}

export interface RuleSpec {
  chain: string;
  /** The rule in nft syntax (documentation and error messages). */
  text: string;
  expressions: Buffer[];
}

/** The base chains we create: every one has policy accept, so our table alone never drops anything. */
export function lxcDhcpdChains(options: Pick<RulesetOptions, 'nat' | 'firewall'>): BaseChainSpec[] {
  const chains: BaseChainSpec[] = [];
  if (options.nat) {
    chains.push({ table: LXC_DHCPD_TABLE, name: 'postrouting', type: 'nat', hook: NF_INET_POST_ROUTING, priority: 100, policy: NF_ACCEPT });
  }
  if (options.firewall) {
    chains.push({ table: LXC_DHCPD_TABLE, name: 'input', type: 'filter', hook: NF_INET_LOCAL_IN, priority: 0, policy: NF_ACCEPT });
    chains.push({ table: LXC_DHCPD_TABLE, name: 'forward', type: 'filter', hook: NF_INET_FORWARD, priority: 0, policy: NF_ACCEPT });
  }
  return chains;
}

/** The rules, in order, with their nft-syntax text. */
export function lxcDhcpdRules(options: RulesetOptions): RuleSpec[] {
  const rules: RuleSpec[] = [];
  const subnet = `${formatIPv4(options.subnet)}/${options.prefixLength}`;
  const bridge = JSON.stringify(options.bridge);
  const accept = immediateVerdict(NF_ACCEPT);
  if (options.nat) {
    const expressions = [
      ...matchIpv4Prefix('saddr', NFT_CMP_EQ, options.subnet, options.prefixLength),
      ...matchIpv4Prefix('daddr', NFT_CMP_NEQ, options.subnet, options.prefixLength),
    ];
    let text = `ip saddr ${subnet} ip daddr != ${subnet}`;
    if (options.uplink !== undefined) {
      expressions.push(...matchInterfaceName('oifname', options.uplink));
      text += ` oifname ${JSON.stringify(options.uplink)}`;
    }
    expressions.push(masquerade());
    rules.push({ chain: 'postrouting', text: `${text} masquerade`, expressions });
  }
  if (options.firewall) {
    const fromBridge = matchInterfaceName('iifname', options.bridge);
    const ports: [string, typeof IPPROTO_UDP | typeof IPPROTO_TCP, number][] = [
      ['udp', IPPROTO_UDP, 67],
      ['udp', IPPROTO_UDP, 53],
      ['tcp', IPPROTO_TCP, 53],
    ];
    for (const [name, protocol, port] of ports) {
      rules.push({
        chain: 'input',
        text: `iifname ${bridge} ${name} dport ${port} accept`,
        expressions: [...fromBridge, ...matchDestinationPort(protocol, port), accept],
      });
    }
    rules.push({ chain: 'forward', text: `iifname ${bridge} accept`, expressions: [...fromBridge, accept] });
    rules.push({ chain: 'forward', text: `oifname ${bridge} accept`, expressions: [...matchInterfaceName('oifname', options.bridge), accept] });
  }
  return rules;
}

/**
 * The whole install as one atomic batch: NEWTABLE + DELTABLE throws away whatever an earlier run
 * (or a crash) left in our table without failing when there is none, then the table is built again.
 */
export function buildInstallBatch(options: RulesetOptions, firstSeq: number): BatchMessage[] {
  return buildTableBatch(NFPROTO_IPV4, lxcDhcpdChains(options), lxcDhcpdRules(options), firstSeq);
}

/** The same replace-the-whole-table batch for any family (the ip6 table uses it too). */
export function buildTableBatch(family: number, chains: readonly BaseChainSpec[], rules: readonly RuleSpec[], firstSeq: number): BatchMessage[] {
  let seq = firstSeq;
  const table = `${familyName(family)} ${LXC_DHCPD_TABLE}`;
  const messages: BatchMessage[] = [];
  const add = (description: string, encode: (seq: number) => Buffer): void => {
    const current = seq++;
    messages.push({ seq: current, description, bytes: encode(current) });
  };
  add('BATCH_BEGIN', encodeBatchBegin);
  add(`NEWTABLE ${table} (before replacing it)`, (s) => encodeNewTable(s, family, LXC_DHCPD_TABLE));
  add(`DELTABLE ${table}`, (s) => encodeDeleteTable(s, family, LXC_DHCPD_TABLE));
  add(`NEWTABLE ${table}`, (s) => encodeNewTable(s, family, LXC_DHCPD_TABLE));
  for (const chain of chains) {
    add(`NEWCHAIN ${table} ${chain.name} (type ${chain.type} hook priority ${chain.priority})`, (s) => encodeNewBaseChain(s, family, chain));
  }
  for (const rule of rules) {
    add(`NEWRULE ${table} ${rule.chain}: ${rule.text}`, (s) => encodeNewRule(s, family, LXC_DHCPD_TABLE, rule.chain, rule.expressions));
  }
  add('BATCH_END', encodeBatchEnd);
  return messages;
}

/** Deleting our table, also as a batch that succeeds when the table does not exist. */
export function buildDeleteBatch(firstSeq: number, family: number = NFPROTO_IPV4): BatchMessage[] {
  const table = `${familyName(family)} ${LXC_DHCPD_TABLE}`;
  return [
    { seq: firstSeq, description: 'BATCH_BEGIN', bytes: encodeBatchBegin(firstSeq) },
    { seq: firstSeq + 1, description: `NEWTABLE ${table} (before deleting it)`, bytes: encodeNewTable(firstSeq + 1, family, LXC_DHCPD_TABLE) },
    { seq: firstSeq + 2, description: `DELTABLE ${table}`, bytes: encodeDeleteTable(firstSeq + 2, family, LXC_DHCPD_TABLE) },
    { seq: firstSeq + 3, description: 'BATCH_END', bytes: encodeBatchEnd(firstSeq + 3) },
  ];
}
