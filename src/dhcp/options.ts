/**
 * DHCP options as an ordered map of code → raw value, with typed accessors (in the manner of insomniacslk/dhcp).
 * Values are stored already concatenated (RFC 3396), so a long option split across instances reads as one.
 * Accessors never throw on bad network data: a value of the wrong length reads as undefined.
 */
import type { IPv4 } from '../net/address.ts';
import { type MessageType, Option } from './constants.ts';
import { decodeDomainSearchList, decodeName, encodeDomainSearchList } from './domain-name.ts';

interface ClientFqdn {
  flags: number;
  name: string;
  /** True when the name was in canonical wire format (flag E), false for the deprecated ASCII form. */
  wireFormat: boolean;
}

export const FQDN_FLAG_S = 0x01;
export const FQDN_FLAG_E = 0x04;

export class DhcpOptions {
  private readonly values = new Map<number, Buffer>();

  get size(): number {
    return this.values.size;
  }

  has(code: number): boolean {
    return this.values.has(code);
  }

  get(code: number): Buffer | undefined {
    return this.values.get(code);
  }

  set(code: number, value: Buffer): this {
    this.values.set(code, value);
    return this;
  }

  delete(code: number): void {
    this.values.delete(code);
  }

  /** Appends to an existing value (RFC 3396 concatenation of repeated option instances). */
  append(code: number, value: Buffer): void {
    const existing = this.values.get(code);
    this.values.set(code, existing ? Buffer.concat([existing, value]) : value);
  }

  entries(): IterableIterator<[number, Buffer]> {
    return this.values.entries();
  }

  codes(): number[] {
    return [...this.values.keys()];
  }

  // ---- typed readers ----

  getUint8(code: number): number | undefined {
    const v = this.values.get(code);
    return v && v.length === 1 ? v[0] : undefined;
  }

  getUint16(code: number): number | undefined {
    const v = this.values.get(code);
    return v && v.length === 2 ? v.readUInt16BE(0) : undefined;
  }

  getUint32(code: number): number | undefined {
    const v = this.values.get(code);
    return v && v.length === 4 ? v.readUInt32BE(0) : undefined;
  }

  getIPv4(code: number): IPv4 | undefined {
    return this.getUint32(code);
  }

  getIPv4List(code: number): IPv4[] | undefined {
    const v = this.values.get(code);
    if (!v || v.length === 0 || v.length % 4 !== 0) return undefined;
    const out: IPv4[] = [];
    for (let i = 0; i < v.length; i += 4) out.push(v.readUInt32BE(i));
    return out;
  }

  getText(code: number): string | undefined {
    const v = this.values.get(code);
    if (!v || v.length === 0) return undefined;
    // Some clients count a trailing NUL in the length (RFC 2132 says they should not).
    const end = v.indexOf(0);
    return v.subarray(0, end < 0 ? v.length : end).toString('latin1');
  }

  get messageType(): MessageType | undefined {
    const t = this.getUint8(Option.MessageType);
    return t !== undefined && t >= 1 && t <= 8 ? (t as MessageType) : undefined;
  }

  get requestedIp(): IPv4 | undefined {
    return this.getIPv4(Option.RequestedIpAddress);
  }

  get serverIdentifier(): IPv4 | undefined {
    return this.getIPv4(Option.ServerIdentifier);
  }

  /** Client identifier (61) kept as bytes: DUIDs routinely contain zero bytes. */
  get clientId(): Buffer | undefined {
    const v = this.values.get(Option.ClientIdentifier);
    return v && v.length >= 2 ? v : undefined;
  }

  get parameterRequestList(): number[] {
    const v = this.values.get(Option.ParameterRequestList);
    return v ? [...v] : [];
  }

  get maxMessageSize(): number | undefined {
    return this.getUint16(Option.MaxMessageSize);
  }

  get hostname(): string | undefined {
    return this.getText(Option.HostName);
  }

  get rapidCommit(): boolean {
    const v = this.values.get(Option.RapidCommit);
    return v !== undefined && v.length === 0;
  }

  get clientFqdn(): ClientFqdn | undefined {
    const v = this.values.get(Option.ClientFqdn);
    if (!v || v.length < 3) return undefined;
    const flags = v[0] as number;
    const nameBytes = v.subarray(3);
    if (flags & FQDN_FLAG_E) {
      if (nameBytes.length === 0) return { flags, name: '', wireFormat: true };
      const decoded = decodeFqdnWire(nameBytes);
      return decoded === undefined ? undefined : { flags, name: decoded, wireFormat: true };
    }
    return { flags, name: nameBytes.toString('latin1').replace(/\0+$/, ''), wireFormat: false };
  }

  get domainSearch(): string[] | undefined {
    const v = this.values.get(Option.DomainSearch);
    return v ? (decodeDomainSearchList(v) ?? undefined) : undefined;
  }

  get overload(): number | undefined {
    return this.getUint8(Option.OptionOverload);
  }

  // ---- typed writers ----

  setUint8(code: number, value: number): this {
    return this.set(code, Buffer.from([value & 0xff]));
  }

  setUint16(code: number, value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value, 0);
    return this.set(code, b);
  }

  setUint32(code: number, value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0, 0);
    return this.set(code, b);
  }

  setIPv4(code: number, ip: IPv4): this {
    return this.setUint32(code, ip);
  }

  setIPv4List(code: number, ips: readonly IPv4[]): this {
    const b = Buffer.alloc(ips.length * 4);
    for (const [i, ip] of ips.entries()) b.writeUInt32BE(ip >>> 0, i * 4);
    return this.set(code, b);
  }

  setText(code: number, text: string): this {
    return this.set(code, Buffer.from(text, 'latin1'));
  }

  setMessageType(type: MessageType): this {
    return this.setUint8(Option.MessageType, type);
  }

  /** Returns false (and sets nothing) when a name cannot be encoded. */
  setDomainSearch(names: readonly string[]): boolean {
    const encoded = encodeDomainSearchList(names);
    if (!encoded) return false;
    this.set(Option.DomainSearch, encoded);
    return true;
  }
}

function decodeFqdnWire(bytes: Buffer): string | undefined {
  // A partial name (RFC 4702 §2.3.1) has no terminating zero label; append one so the decoder can finish.
  const data = bytes[bytes.length - 1] === 0 ? bytes : Buffer.concat([bytes, Buffer.from([0])]);
  const result = decodeName(data, 0);
  return result.ok ? result.name : undefined;
}
