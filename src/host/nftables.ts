/**
 * NAT and firewall for the bridge through nf_tables netlink: our own table `ip lxc-dhcpd`, replaced
 * atomically on every install and deleted at exit. Other tables are never read for writing, changed
 * or deleted. No nft/iptables binary is involved.
 */
import { networkOf } from '../net/address.ts';
import { allocateSeqs, withNfnetlinkSocket } from './nfnetlink-socket.ts';
import {
  buildDeleteBatch,
  buildInstallBatch,
  type ChainInfo,
  encodeGetChainsDump,
  LXC_DHCPD_TABLE,
  lxcDhcpdRules,
  NFT_MSG_NEWCHAIN,
  nftablesMessageType,
  parseChainMessage,
  type RulesetOptions,
} from './nftables-messages.ts';

interface InstallRulesOptions {
  bridge: string;
  /** Any address inside the subnet (host-order u32, e.g. the bridge address); it is masked with prefixLength. */
  subnet: number;
  prefixLength: number;
  uplink?: string;
  nat: boolean;
  firewall: boolean;
}

interface InstalledRules {
  table: string;
  /** The rules as nft would list them, `chain: rule`. */
  rules: string[];
}

/**
 * Replaces our table with a fresh one holding the requested chains and rules, in one atomic batch.
 * With nat and firewall both false, our table is left existing but empty (callers would normally
 * call deleteTable() instead). Throws a NetfilterError naming the refused message.
 */
export async function installRules(options: InstallRulesOptions): Promise<InstalledRules> {
  const ruleset: RulesetOptions = { ...options, subnet: networkOf(options.subnet, options.prefixLength) };
  const rules = lxcDhcpdRules(ruleset).map((rule) => `${rule.chain}: ${rule.text}`);
  const batchLength = buildInstallBatch(ruleset, 1).length;
  const batch = buildInstallBatch(ruleset, allocateSeqs(batchLength));
  await withNfnetlinkSocket((socket) => socket.sendBatch(batch));
  return { table: `ip ${LXC_DHCPD_TABLE}`, rules };
}

/** Deletes our table (and with it our chains and rules); does nothing when it does not exist. */
export async function deleteTable(): Promise<void> {
  const batch = buildDeleteBatch(allocateSeqs(4));
  await withNfnetlinkSocket((socket) => socket.sendBatch(batch));
}

/** Every nf_tables chain of every family in this network namespace. */
export async function listChains(): Promise<ChainInfo[]> {
  const seq = allocateSeqs(1);
  const replies = await withNfnetlinkSocket((socket) => socket.dump(encodeGetChainsDump(seq), seq));
  return replies.filter((message) => message.type === nftablesMessageType(NFT_MSG_NEWCHAIN)).map((message) => parseChainMessage(message.payload));
}
