/**
 * Builds the bytes of an Advertise or a Reply from a plan (RFC 8415 §18.3): Server and Client Identifiers first, then
 * a top-level status, the IA_NAs, Preference and Rapid Commit, and the configuration options (DNS servers and domain
 * list, RFC 3646; Information Refresh Time, §21.23; Client FQDN, RFC 4704). One small writer per option concern; the
 * server decides, this only writes.
 */
import { Writer } from './cursor.ts';
import { type IaNaOut, writeClientFqdn, writeDnsServers, writeDomainList, writeIaNa, writeStatus } from './options.ts';
import { Option6 } from './vocabulary.ts';

export interface ConfigOptions {
  /** 16-byte addresses (RFC 3646 §3). */
  dnsServers: readonly Buffer[];
  /** Search domains (RFC 3646 §4); empty leaves the option out. */
  domains: readonly string[];
}

export interface ReplyPlan {
  type: number;
  transactionId: number;
  serverDuid: Buffer;
  clientId: Buffer | null;
  status: { code: number; message: string } | null;
  ias: readonly IaNaOut[];
  /** §21.8: in an Advertise only. */
  preference: number | null;
  /** §21.14: echoed in a Reply to a Solicit. */
  rapidCommit: boolean;
  config: ConfigOptions | null;
  /** §21.23: only in a Reply to an Information-request. */
  informationRefreshSeconds: number | null;
  fqdn: { flags: number; name: string } | null;
}

export function buildReply(plan: ReplyPlan): Buffer {
  const w = new Writer();
  w.u8(plan.type)
    .u8((plan.transactionId >>> 16) & 0xff)
    .u16(plan.transactionId & 0xffff);
  w.option(Option6.ServerId, (x) => x.bytes(plan.serverDuid));
  const clientId = plan.clientId;
  if (clientId !== null) w.option(Option6.ClientId, (x) => x.bytes(clientId));
  if (plan.status !== null) writeStatus(w, plan.status.code, plan.status.message);
  for (const ia of plan.ias) writeIaNa(w, ia);
  const preference = plan.preference;
  if (preference !== null) w.option(Option6.Preference, (x) => x.u8(preference));
  if (plan.rapidCommit) w.option(Option6.RapidCommit, () => {});
  if (plan.config !== null) {
    if (plan.config.dnsServers.length > 0) writeDnsServers(w, plan.config.dnsServers);
    if (plan.config.domains.length > 0) writeDomainList(w, plan.config.domains);
  }
  const refresh = plan.informationRefreshSeconds;
  if (refresh !== null) w.option(Option6.InformationRefreshTime, (x) => x.u32(refresh));
  if (plan.fqdn !== null) writeClientFqdn(w, plan.fqdn.flags, plan.fqdn.name);
  return w.finish();
}
