/**
 * The stable unique local /64 of `--ipv6 auto` (RFC 4193): fd00::/8, a 40-bit Global ID taken from a SHA-256 of the
 * host's /etc/machine-id and the bridge name, subnet ID 0. The same host and bridge get the same prefix after every
 * restart (containers keep their SLAAC addresses and AAAA names), two hosts or two bridges get different ones. RFC 4193
 * §3.2.2 suggests SHA-1 of a time stamp and an EUI-64; any well-mixed 40 bits meet its goal (§3.2.3: no collision in
 * practice), and hashing the machine id keeps the prefix stable without storing it anywhere.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Checked, fail, ok } from '../result.ts';

export const MACHINE_ID_PATH = '/etc/machine-id';
/** RFC 4193 §3.1: the ULA prefix FC00::/7 with the L bit set (locally assigned) is fd00::/8. */
const ULA_LOCAL_PREFIX_BYTE = 0xfd;
/** RFC 4193 §3.1: the Global ID is 40 bits. */
const GLOBAL_ID_BYTES = 5;

/** A ULA address with prefix length 64: the bridge's address (PREFIX::1) and the /64 it sits in. */
interface UlaAddress {
  /** PREFIX::1, 16 bytes. */
  address: Buffer;
  /** PREFIX::, 16 bytes. */
  prefix: Buffer;
  prefixLength: 64;
}

/**
 * fd + the first 40 bits of SHA-256("lxc-dhcpd ula\0" + machine id + "\0" + bridge) + subnet ID 0 + ::1. Pure. The
 * machine id is trimmed (the file ends with a newline) and lowercased so its text form does not change the prefix.
 */
export function ulaFor(machineId: string, bridge: string): UlaAddress {
  const digest = createHash('sha256').update(`lxc-dhcpd ula\0${machineId.trim().toLowerCase()}\0${bridge}`).digest();
  const prefix = Buffer.alloc(16);
  prefix[0] = ULA_LOCAL_PREFIX_BYTE;
  digest.copy(prefix, 1, 0, GLOBAL_ID_BYTES);
  const address = Buffer.from(prefix);
  address[15] = 1;
  return { address, prefix, prefixLength: 64 };
}

/** The machine id's text, or one line telling the user what to do when it is missing or empty. */
export function readMachineId(path: string = MACHINE_ID_PATH): Checked<string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    return fail(
      `--ipv6 auto derives the bridge's IPv6 prefix from ${path}, which cannot be read (${code}): give one with --ipv6 ADDR/64 (e.g. fd12:3456:789a::1/64)`,
    );
  }
  if (text.trim() === '') {
    return fail(`--ipv6 auto derives the bridge's IPv6 prefix from ${path}, which is empty: give one with --ipv6 ADDR/64 (e.g. fd12:3456:789a::1/64)`);
  }
  return ok(text);
}
