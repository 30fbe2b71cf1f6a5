/**
 * RFC 8415 §16, message validation, as one readable table: which client messages a server accepts, which must carry
 * a Client Identifier, which must carry our Server Identifier and which must not carry one at all, and which may not
 * arrive by unicast (§18.4). validateClientMessage is pure: it returns what the message is to the server (its Client
 * ID, its IA_NAs, what it asked for) or a named reason to drop it.
 */
import { parseDuid } from './duid.ts';
import { allOptions, countOption, type Dhcp6Message, findOption } from './message.ts';
import { decodeIaNa, decodeOro, type IaNa } from './options.ts';
import { MAX_IA_PER_MESSAGE, MessageType, Option6 } from './vocabulary.ts';

export type ValidationDrop =
  | 'not-a-client-message'
  | 'missing-client-id'
  | 'bad-client-id'
  | 'duplicate-identifier'
  | 'missing-server-id'
  | 'unexpected-server-id'
  | 'not-for-us'
  | 'ia-in-information-request'
  | 'unicast-not-allowed'
  | 'bad-ia-na'
  | 'bad-oro';

/** What §16 says of each client message type. 'ours': present and equal to our DUID; 'absent': must not be there. */
interface Rule {
  clientId: 'required' | 'optional';
  serverId: 'ours' | 'absent' | 'ours-if-present';
  /** §18.4: "A server MUST discard any Solicit, Confirm, Rebind, or Information-request ... unicast". */
  multicastOnly: boolean;
}

const RULES: ReadonlyMap<number, Rule> = new Map<number, Rule>([
  [MessageType.Solicit, { clientId: 'required', serverId: 'absent', multicastOnly: true }], // §16.2
  [MessageType.Request, { clientId: 'required', serverId: 'ours', multicastOnly: false }], // §16.4
  [MessageType.Confirm, { clientId: 'required', serverId: 'absent', multicastOnly: true }], // §16.5
  [MessageType.Renew, { clientId: 'required', serverId: 'ours', multicastOnly: false }], // §16.6
  [MessageType.Rebind, { clientId: 'required', serverId: 'absent', multicastOnly: true }], // §16.7
  [MessageType.Decline, { clientId: 'required', serverId: 'ours', multicastOnly: false }], // §16.8
  [MessageType.Release, { clientId: 'required', serverId: 'ours', multicastOnly: false }], // §16.9
  [MessageType.InformationRequest, { clientId: 'optional', serverId: 'ours-if-present', multicastOnly: true }], // §16.12
]);

export interface ValidMessage {
  message: Dhcp6Message;
  /** Option 1's bytes (a view), or null (Information-request only). */
  clientId: Buffer | null;
  iaNas: IaNa[];
  /** Option codes of the ORO (§21.7); empty when absent. */
  requested: number[];
  /** Arrived by unicast: Request/Renew/Release/Decline are then answered with UseMulticast (§18.3.x). */
  unicast: boolean;
}

type Validation = { ok: true; valid: ValidMessage } | { ok: false; reason: ValidationDrop; detail: string };

const fail = (reason: ValidationDrop, detail: string): Validation => ({ ok: false, reason, detail });

function checkIdentifiers(m: Dhcp6Message, rule: Rule, serverDuid: Buffer): Validation | null {
  if (countOption(m.options, Option6.ClientId) > 1 || countOption(m.options, Option6.ServerId) > 1) {
    return fail('duplicate-identifier', 'more than one Client or Server Identifier');
  }
  const clientId = findOption(m.options, Option6.ClientId);
  if (clientId === undefined && rule.clientId === 'required') return fail('missing-client-id', 'no Client Identifier (option 1)');
  if (clientId !== undefined) {
    const duid = parseDuid(clientId);
    if (!duid.ok) return fail('bad-client-id', `${duid.reason}: ${duid.detail}`);
  }
  const serverId = findOption(m.options, Option6.ServerId);
  if (serverId === undefined && rule.serverId === 'ours') return fail('missing-server-id', 'no Server Identifier (option 2)');
  if (serverId !== undefined && rule.serverId === 'absent') return fail('unexpected-server-id', 'a Server Identifier where §16 forbids one');
  if (serverId !== undefined && !serverId.equals(serverDuid)) return fail('not-for-us', 'the Server Identifier names another server');
  return null;
}

/** §16 checks of one parsed message received on the link; `multicast` is whether it was sent to ff02::1:2. */
export function validateClientMessage(m: Dhcp6Message, serverDuid: Buffer, multicast: boolean): Validation {
  const rule = RULES.get(m.type);
  if (rule === undefined) return fail('not-a-client-message', `message type ${m.type} is not sent by clients to servers`);
  if (!multicast && rule.multicastOnly) return fail('unicast-not-allowed', `message type ${m.type} must be sent to ff02::1:2 (§18.4)`);
  const refused = checkIdentifiers(m, rule, serverDuid);
  if (refused !== null) return refused;
  if (m.type === MessageType.InformationRequest) {
    const hasIa = m.options.some((o) => o.code === Option6.IaNa || o.code === Option6.IaTa || o.code === Option6.IaPd);
    if (hasIa) return fail('ia-in-information-request', '§16.12: an Information-request must not carry an IA');
  }
  const iaNas: IaNa[] = [];
  // Only the first MAX_IA_PER_MESSAGE are read and served; the rest are ignored.
  for (const value of allOptions(m.options, Option6.IaNa).slice(0, MAX_IA_PER_MESSAGE)) {
    const ia = decodeIaNa(value);
    if (!ia.ok) return fail('bad-ia-na', `${ia.reason}: ${ia.detail}`);
    iaNas.push(ia.ia);
  }
  const oro = findOption(m.options, Option6.Oro);
  const requested = oro === undefined ? [] : decodeOro(oro);
  if (requested === null) return fail('bad-oro', `ORO of odd length ${oro?.length}`);
  const clientId = findOption(m.options, Option6.ClientId) ?? null;
  return { ok: true, valid: { message: m, clientId, iaNas, requested, unicast: !multicast } };
}
