/**
 * The DHCPv6 message codec with no I/O (RFC 8415 §8, §21.1), in the manner of pg-protocol and src/dhcp/message.ts:
 * parseDhcp6Message turns a UDP payload into a typed Dhcp6Message (type, transaction id, top-level options as views
 * of the bytes) or a named failure; serializeDhcp6Message does the reverse. Relay messages (RFC 8415 §9) are refused
 * here with their own reason: we serve on-link clients only. Nothing here throws on network input.
 */
import { Reader, Writer } from './cursor.ts';
import { HEADER_LENGTH, MAX_OPTIONS, MessageType, OPTION_HEADER_LENGTH } from './vocabulary.ts';

export interface Dhcp6Option {
  code: number;
  /** A view of the received bytes (copy what outlives the message). */
  value: Buffer;
}

export interface Dhcp6Message {
  type: number;
  /** 24 bits (RFC 8415 §8). */
  transactionId: number;
  /** In wire order; a code may repeat (IA_NA does). */
  options: Dhcp6Option[];
}

export type Parse6Failure = 'short-message' | 'relay-message' | 'option-truncated' | 'too-many-options';

type OptionsResult = { ok: true; options: Dhcp6Option[] } | { ok: false; reason: Parse6Failure; detail: string };
type Parse6Result = { ok: true; message: Dhcp6Message } | { ok: false; reason: Parse6Failure; detail: string };

/**
 * Reads a run of options from `start` to `end` of `data` (a message's options, or the options inside an IA_NA or an
 * IA Address). Every option's length is checked against what is left; at most `limit` options are read.
 */
export function readOptions(data: Buffer, start: number, end: number, limit: number): OptionsResult {
  const r = new Reader(data, start, end);
  const options: Dhcp6Option[] = [];
  while (r.remaining > 0) {
    if (r.remaining < OPTION_HEADER_LENGTH) {
      return { ok: false, reason: 'option-truncated', detail: `${r.remaining} bytes left at ${r.position}, an option header needs 4` };
    }
    const code = r.u16();
    const length = r.u16();
    const value = r.bytes(length);
    if (value === null) return { ok: false, reason: 'option-truncated', detail: `option ${code} length ${length} runs past the end` };
    if (options.length === limit) return { ok: false, reason: 'too-many-options', detail: `more than ${limit} options` };
    options.push({ code, value });
  }
  return { ok: true, options };
}

export function parseDhcp6Message(data: Buffer): Parse6Result {
  if (data.length < HEADER_LENGTH) return { ok: false, reason: 'short-message', detail: `${data.length} bytes, need at least ${HEADER_LENGTH}` };
  const type = data[0] as number;
  if (type === MessageType.RelayForward || type === MessageType.RelayReply) {
    return { ok: false, reason: 'relay-message', detail: `message type ${type}: relayed messages are not served (on-link clients only)` };
  }
  const transactionId = data.readUIntBE(1, 3);
  const options = readOptions(data, HEADER_LENGTH, data.length, MAX_OPTIONS);
  if (!options.ok) return options;
  return { ok: true, message: { type, transactionId, options: options.options } };
}

export function serializeDhcp6Message(message: Dhcp6Message): Buffer {
  const w = new Writer();
  w.u8(message.type);
  w.u8((message.transactionId >>> 16) & 0xff).u16(message.transactionId & 0xffff);
  for (const o of message.options) w.option(o.code, (x) => x.bytes(o.value));
  return w.finish();
}

/** The first option of `code`, or undefined. */
export function findOption(options: readonly Dhcp6Option[], code: number): Buffer | undefined {
  for (const o of options) if (o.code === code) return o.value;
  return undefined;
}

export function countOption(options: readonly Dhcp6Option[], code: number): number {
  let n = 0;
  for (const o of options) if (o.code === code) n++;
  return n;
}

export function allOptions(options: readonly Dhcp6Option[], code: number): Buffer[] {
  const out: Buffer[] = [];
  for (const o of options) if (o.code === code) out.push(o.value);
  return out;
}
