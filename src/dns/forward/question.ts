// The question being forwarded or cached, its cache key, and name comparison.
import type { Answer, DecodedPacket, RecordClass, RecordType } from 'dns-packet';

export interface DnsQuestion {
  readonly name: string;
  readonly type: RecordType;
  /** Default 'IN'. */
  readonly class?: RecordClass | undefined;
}

/** What the client asked for that changes the upstream's answer; everything else is ours to set. */
export interface ClientQueryFlags {
  /** DNSSEC OK (EDNS): the client wants RRSIGs. Forwarded; part of the cache key. */
  readonly dnssecOk?: boolean;
  /** Checking Disabled: forwarded; part of the cache key. */
  readonly checkingDisabled?: boolean;
}

/**
 * An answer without its header: what the server copies into its reply. `additionals` never holds
 * the upstream's OPT record (EDNS is per hop; the server adds its own).
 */
export interface DnsAnswer {
  /** dns-packet's rcode name: 'NOERROR', 'NXDOMAIN', ... */
  readonly rcode: string;
  /** The upstream's AD bit (it validated the data). We do not validate: pass it on only if you trust the upstream. */
  readonly authenticData: boolean;
  readonly answers: readonly Answer[];
  readonly authorities: readonly Answer[];
  readonly additionals: readonly Answer[];
}

/** DNS names compare ASCII-case-insensitively (RFC 4343); non-ASCII bytes compare exactly. */
function lowerDnsName(name: string): string {
  const lowered = name.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
  return lowered.length > 1 && lowered.endsWith('.') ? lowered.slice(0, -1) : lowered;
}

function sameDnsName(a: string, b: string): boolean {
  return lowerDnsName(a) === lowerDnsName(b);
}

export function questionKey(question: DnsQuestion, flags: ClientQueryFlags = {}): string {
  const bits = `${flags.dnssecOk === true ? 'do' : ''}${flags.checkingDisabled === true ? 'cd' : ''}`;
  return `${lowerDnsName(question.name)}|${question.type}|${question.class ?? 'IN'}|${bits}`;
}

/** True when `response` carries exactly one question and it is `question`. */
export function responseMatchesQuestion(response: DecodedPacket, question: DnsQuestion): boolean {
  const questions = response.questions ?? [];
  const only = questions[0];
  return (
    questions.length === 1 &&
    only !== undefined &&
    sameDnsName(only.name, question.name) &&
    only.type === question.type &&
    (only.class ?? 'IN') === (question.class ?? 'IN')
  );
}

export function rcodeOf(packet: DecodedPacket): string {
  return (packet as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR';
}

export function answerOf(response: DecodedPacket): DnsAnswer {
  return {
    rcode: rcodeOf(response),
    authenticData: response.flag_ad,
    answers: response.answers ?? [],
    authorities: response.authorities ?? [],
    additionals: (response.additionals ?? []).filter((record) => record.type !== 'OPT'),
  };
}
