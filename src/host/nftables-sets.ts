/**
 * The cluster's nf_tables pieces in our own `ip lxc-dhcpd` table, as pure message builders (sent by cluster-routes.ts
 * through nfnetlink-socket.ts): an interval set `cluster_peers` of the other hosts' bridge subnets, a rule at the head
 * of our postrouting chain that accepts (so does not masquerade) traffic to those subnets, and one at the head of our
 * forward chain that accepts new traffic from them into the bridge. The set's contents are replaced in one atomic
 * batch (flush + add), so a packet never sees a half-written set. Attribute order follows `nft --debug=mnl`
 * (nftables 1.0.6) so the unit tests compare bytes with nft's own.
 */

import { endianness } from 'node:os';
import { broadcastOf, formatIPv4, type IPv4, networkOf } from '../net/address.ts';
import { encodeAttribute, encodeNestedAttribute, encodeStringAttribute, encodeU32BeAttribute, NLM_F_ACK, NLM_F_CREATE } from './netlink-encoding.ts';
import { immediateVerdict, matchInterfaceName, matchIpv4InSet, NF_ACCEPT } from './nftables-expressions.ts';
import { type BatchMessage, encodeBatchBegin, encodeBatchEnd, encodeInsertRule, LXC_DHCPD_TABLE, NFPROTO_IPV4, nftablesMessage } from './nftables-messages.ts';

// enum nf_tables_msg_types
const NFT_MSG_NEWSET = 9;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;

// enum nft_set_attributes, nft_set_flags
const NFTA_SET_TABLE = 1;
const NFTA_SET_NAME = 2;
const NFTA_SET_FLAGS = 3;
const NFTA_SET_KEY_TYPE = 4;
const NFTA_SET_KEY_LEN = 5;
const NFTA_SET_ID = 10;
const NFTA_SET_USERDATA = 13;
const NFT_SET_INTERVAL = 0x4;

// enum nft_set_elem_list_attributes, nft_set_elem_attributes, nft_set_elem_flags
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_SET_ELEM_LIST_SET_ID = 4;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_FLAGS = 3;
const NFT_SET_ELEM_INTERVAL_END = 0x1;
const NFTA_DATA_VALUE = 1;

/** nft's datatype number for ipv4_addr (TYPE_IPADDR in nftables' datatype.h); stored by the kernel, read by nft. */
const NFT_TYPE_IPADDR = 7;
const IPV4_KEY_LENGTH = 4;
/**
 * libnftnl userdata: NFTNL_UDATA_SET_KEYBYTEORDER (type 0, 4 bytes) = BYTEORDER_BIG_ENDIAN (2), in host order, which
 * is what nft writes for an ipv4_addr set and reads back to print the elements.
 */
const NFTNL_UDATA_SET_KEYBYTEORDER = 0;
const BYTEORDER_BIG_ENDIAN = 2;

export const CLUSTER_PEERS_SET = 'cluster_peers';
/** The id that lets the rules in the creating batch find the set before it has a handle. */
const CLUSTER_PEERS_SET_ID = 1;

interface Ipv4Prefix {
  network: IPv4;
  prefixLength: number;
}

/** libnftnl's userdata TLV: u8 type, u8 length, value (here a u32 in host order). */
function setUserdata(): Buffer {
  const value = Buffer.alloc(4);
  if (endianness() === 'LE') value.writeUInt32LE(BYTEORDER_BIG_ENDIAN);
  else value.writeUInt32BE(BYTEORDER_BIG_ENDIAN);
  return Buffer.concat([Buffer.from([NFTNL_UDATA_SET_KEYBYTEORDER, value.length]), value]);
}

/** NEWSET `set NAME { type ipv4_addr; flags interval; }` (no error if it exists). */
export function encodeNewIntervalSet(seq: number, set: string, setId: number = CLUSTER_PEERS_SET_ID): Buffer {
  return nftablesMessage(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_ACK, seq, NFPROTO_IPV4, [
    encodeStringAttribute(NFTA_SET_TABLE, LXC_DHCPD_TABLE),
    encodeStringAttribute(NFTA_SET_NAME, set),
    encodeU32BeAttribute(NFTA_SET_FLAGS, NFT_SET_INTERVAL),
    encodeU32BeAttribute(NFTA_SET_KEY_TYPE, NFT_TYPE_IPADDR),
    encodeU32BeAttribute(NFTA_SET_KEY_LEN, IPV4_KEY_LENGTH),
    encodeU32BeAttribute(NFTA_SET_ID, setId),
    encodeAttribute(NFTA_SET_USERDATA, setUserdata()),
  ]);
}

/** One interval-set element: a start key, or an end key (first address after the interval) flagged INTERVAL_END. */
interface IntervalElement {
  key: IPv4;
  end: boolean;
}

/**
 * The elements nft writes for a list of prefixes: sorted, each prefix as start + end (its broadcast address + 1; none
 * when it reaches 255.255.255.255), preceded by an end element at 0.0.0.0 when the first prefix does not start there
 * (nft always adds it: "nothing below the first interval"). The prefixes must not overlap (callers drop overlaps).
 */
export function intervalElements(prefixes: readonly Ipv4Prefix[]): IntervalElement[] {
  const sorted = prefixes.map((p) => ({ network: networkOf(p.network, p.prefixLength), prefixLength: p.prefixLength })).sort((a, b) => a.network - b.network);
  const elements: IntervalElement[] = [];
  if (sorted.length > 0 && sorted[0]?.network !== 0) elements.push({ key: 0, end: true });
  for (const prefix of sorted) {
    elements.push({ key: prefix.network, end: false });
    const last = broadcastOf(prefix.network, prefix.prefixLength);
    if (last !== 0xffffffff) elements.push({ key: (last + 1) >>> 0, end: true });
  }
  return elements;
}

function encodeElement(index: number, element: IntervalElement): Buffer {
  const key = Buffer.alloc(IPV4_KEY_LENGTH);
  key.writeUInt32BE(element.key >>> 0);
  const keyAttribute = encodeNestedAttribute(NFTA_SET_ELEM_KEY, [encodeAttribute(NFTA_DATA_VALUE, key)]);
  // nft numbers the list's elements 1, 2, 3...; the kernel reads them in order and ignores the number.
  return encodeNestedAttribute(index, element.end ? [encodeU32BeAttribute(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END), keyAttribute] : [keyAttribute]);
}

/** NEWSETELEM with these elements; `setId` when the set is created in the same batch. */
export function encodeSetElements(seq: number, set: string, elements: readonly IntervalElement[], setId?: number): Buffer {
  return nftablesMessage(NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_ACK, seq, NFPROTO_IPV4, [
    encodeStringAttribute(NFTA_SET_ELEM_LIST_TABLE, LXC_DHCPD_TABLE),
    encodeStringAttribute(NFTA_SET_ELEM_LIST_SET, set),
    ...(setId !== undefined ? [encodeU32BeAttribute(NFTA_SET_ELEM_LIST_SET_ID, setId)] : []),
    encodeNestedAttribute(
      NFTA_SET_ELEM_LIST_ELEMENTS,
      elements.map((element, i) => encodeElement(i + 1, element)),
    ),
  ]);
}

/** DELSETELEM without elements: the kernel empties the set (`nft flush set`). */
export function encodeFlushSet(seq: number, set: string): Buffer {
  return nftablesMessage(NFT_MSG_DELSETELEM, NLM_F_ACK, seq, NFPROTO_IPV4, [
    encodeStringAttribute(NFTA_SET_ELEM_LIST_SET, set),
    encodeStringAttribute(NFTA_SET_ELEM_LIST_TABLE, LXC_DHCPD_TABLE),
  ]);
}

/** Which of our base chains exist (our table has them only with NAT or the firewall rules on). */
export interface ClusterChains {
  postrouting: boolean;
  forward: boolean;
}

type Add = (description: string, encode: (seq: number) => Buffer) => void;

function batchOf(firstSeq: number, build: (add: Add) => void): BatchMessage[] {
  let seq = firstSeq;
  const messages: BatchMessage[] = [];
  const add: Add = (description, encode) => {
    const current = seq++;
    messages.push({ seq: current, description, bytes: encode(current) });
  };
  add('BATCH_BEGIN', encodeBatchBegin);
  build(add);
  add('BATCH_END', encodeBatchEnd);
  return messages;
}

/** The rules the cluster adds, in nft syntax (for the log and the docs). */
export function clusterRuleTexts(bridge: string, chains: ClusterChains): string[] {
  const texts: string[] = [];
  if (chains.postrouting) texts.push(`postrouting: ip daddr @${CLUSTER_PEERS_SET} accept`);
  if (chains.forward) texts.push(`forward: ip saddr @${CLUSTER_PEERS_SET} oifname ${JSON.stringify(bridge)} accept`);
  return texts;
}

/**
 * Creates the set (empty) and inserts the two rules at the head of the existing chains, in one batch. The postrouting
 * accept ends our nat chain before the masquerade rule (no NAT between cluster subnets); the forward accept keeps peer
 * containers' new connections in even if the bridge's own forward rules are narrowed later.
 */
export function buildClusterSetBatch(bridge: string, chains: ClusterChains, firstSeq: number): BatchMessage[] {
  const table = `ip ${LXC_DHCPD_TABLE}`;
  return batchOf(firstSeq, (add) => {
    add(`NEWSET ${table} ${CLUSTER_PEERS_SET}`, (s) => encodeNewIntervalSet(s, CLUSTER_PEERS_SET));
    const accept = immediateVerdict(NF_ACCEPT);
    if (chains.postrouting) {
      add(`NEWRULE ${table} postrouting: ip daddr @${CLUSTER_PEERS_SET} accept`, (s) =>
        encodeInsertRule(s, NFPROTO_IPV4, LXC_DHCPD_TABLE, 'postrouting', [...matchIpv4InSet('daddr', CLUSTER_PEERS_SET, CLUSTER_PEERS_SET_ID), accept]),
      );
    }
    if (chains.forward) {
      add(`NEWRULE ${table} forward: ip saddr @${CLUSTER_PEERS_SET} oifname ${JSON.stringify(bridge)} accept`, (s) =>
        encodeInsertRule(s, NFPROTO_IPV4, LXC_DHCPD_TABLE, 'forward', [
          ...matchIpv4InSet('saddr', CLUSTER_PEERS_SET, CLUSTER_PEERS_SET_ID),
          ...matchInterfaceName('oifname', bridge),
          accept,
        ]),
      );
    }
  });
}

/** Replaces the set's contents atomically: flush, then the new elements (none: the set stays empty). */
export function buildPeerSetBatch(prefixes: readonly Ipv4Prefix[], firstSeq: number): BatchMessage[] {
  const elements = intervalElements(prefixes);
  const listed = prefixes.map((p) => `${formatIPv4(networkOf(p.network, p.prefixLength))}/${p.prefixLength}`).join(', ');
  return batchOf(firstSeq, (add) => {
    add(`DELSETELEM ip ${LXC_DHCPD_TABLE} ${CLUSTER_PEERS_SET} (flush)`, (s) => encodeFlushSet(s, CLUSTER_PEERS_SET));
    if (elements.length > 0)
      add(`NEWSETELEM ip ${LXC_DHCPD_TABLE} ${CLUSTER_PEERS_SET} { ${listed} }`, (s) => encodeSetElements(s, CLUSTER_PEERS_SET, elements));
  });
}
