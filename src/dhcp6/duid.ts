/**
 * DUIDs (RFC 8415 §11; DUID-UUID from RFC 6355): reading a client's DUID for the operator's eyes and the lease record,
 * and making our own server DUID. A DUID is written by the sender: it never decides who holds an address (the frame's
 * source MAC does), so parsing here only classifies it and checks its length (MAX_DUID_LENGTH).
 */
import { DuidType, HARDWARE_ETHERNET, MAX_DUID_LENGTH } from './vocabulary.ts';

type Duid =
  | { type: 'llt'; hardwareType: number; time: number; linkLayer: Buffer }
  | { type: 'en'; enterprise: number; identifier: Buffer }
  | { type: 'll'; hardwareType: number; linkLayer: Buffer }
  | { type: 'uuid'; uuid: Buffer }
  | { type: 'other'; code: number; data: Buffer };

type DuidFailure = 'duid-short' | 'duid-long' | 'duid-malformed';
type DuidResult = { ok: true; duid: Duid } | { ok: false; reason: DuidFailure; detail: string };

const UUID_LENGTH = 16;

export function parseDuid(bytes: Buffer): DuidResult {
  // RFC 8415 §11.1: a type code and at least one byte of identifier; at most 128 bytes after the type.
  if (bytes.length < 3) return { ok: false, reason: 'duid-short', detail: `DUID of ${bytes.length} bytes` };
  if (bytes.length > MAX_DUID_LENGTH) return { ok: false, reason: 'duid-long', detail: `DUID of ${bytes.length} bytes, at most ${MAX_DUID_LENGTH}` };
  const code = bytes.readUInt16BE(0);
  const bad = (what: string): DuidResult => ({ ok: false, reason: 'duid-malformed', detail: `${what} of ${bytes.length} bytes` });
  switch (code) {
    case DuidType.Llt:
      if (bytes.length < 9) return bad('DUID-LLT');
      return { ok: true, duid: { type: 'llt', hardwareType: bytes.readUInt16BE(2), time: bytes.readUInt32BE(4), linkLayer: bytes.subarray(8) } };
    case DuidType.En:
      if (bytes.length < 7) return bad('DUID-EN');
      return { ok: true, duid: { type: 'en', enterprise: bytes.readUInt32BE(2), identifier: bytes.subarray(6) } };
    case DuidType.Ll:
      if (bytes.length < 5) return bad('DUID-LL');
      return { ok: true, duid: { type: 'll', hardwareType: bytes.readUInt16BE(2), linkLayer: bytes.subarray(4) } };
    case DuidType.Uuid:
      if (bytes.length !== 2 + UUID_LENGTH) return bad('DUID-UUID');
      return { ok: true, duid: { type: 'uuid', uuid: bytes.subarray(2) } };
    default:
      return { ok: true, duid: { type: 'other', code, data: bytes.subarray(2) } };
  }
}

/**
 * Our server DUID: DUID-LL (RFC 8415 §11.4) from the bridge's MAC. §11.4 suits a device whose link-layer address is
 * permanent and that has no stable storage for a DUID-LLT's time; the bridge's MAC is as stable as the bridge, and a
 * DUID-LL made again after a restart is the same, so clients keep renewing with us.
 */
export function serverDuidFromMac(mac: string): Buffer {
  const hex = mac.replace(/[:-]/g, '');
  if (!/^[0-9a-f]{12}$/i.test(hex)) throw new RangeError(`not a MAC address: ${mac}`);
  const out = Buffer.alloc(10);
  out.writeUInt16BE(DuidType.Ll, 0);
  out.writeUInt16BE(HARDWARE_ETHERNET, 2);
  Buffer.from(hex, 'hex').copy(out, 4);
  return out;
}
