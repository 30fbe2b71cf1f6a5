/**
 * The bridge's IPv6 address through rtnetlink (netlink@0.3.0, as bridge.ts does for IPv4): added with IFA_F_NODAD,
 * since we own the /64 and duplicate address detection would hold the address tentative for about a second
 * (RFC 4862 §5.4: RetransTimer × DupAddrDetectTransmits) during which DNS and DHCPv6 cannot bind to it; removed at
 * exit only when we added it and the bridge is still the one we set up.
 */
import type { RtNetlinkSocket } from 'netlink';
import { requireCjs } from '../cjs.ts';
import { formatIPv6 } from '../net/address6.ts';
import { BridgeError, describe, findLink, rtnetlinkErrorCode, withRtnetlink } from './bridge.ts';

// netlink's constants alone: its index also loads nl80211 and WireGuard tables (~2 MB RSS) the daemon never uses
const { FlagsNew } = requireCjs('netlink/dist/constants') as Pick<typeof import('netlink'), 'FlagsNew'>;

const AF_INET6 = 10;
const BRIDGE_PREFIX_LENGTH6 = 64;

export interface BridgeAddress6 {
  name: string;
  ifindex: number;
  /** 16 bytes. */
  address: Buffer;
  /** We added it (so we remove it at exit). */
  added: boolean;
}

async function hasAddress6(socket: RtNetlinkSocket, ifindex: number, address: Buffer): Promise<boolean> {
  const messages = await socket.getAddresses({ family: AF_INET6 });
  return messages.some((m) => m.data.index === ifindex && m.data.family === AF_INET6 && m.attrs.address?.equals(address) === true);
}

/** Puts address/64 on bridge `name` (which must exist) unless it is there already. */
export async function ensureBridgeAddress6(name: string, address: Buffer): Promise<BridgeAddress6> {
  return withRtnetlink(async (socket) => {
    const link = await findLink(socket, name);
    if (link === null) throw new BridgeError(`bridge ${name} is gone`);
    if (await hasAddress6(socket, link.ifindex, address)) return { name, ifindex: link.ifindex, address, added: false };
    try {
      await socket.newAddress(
        { family: AF_INET6, prefixlen: BRIDGE_PREFIX_LENGTH6, index: link.ifindex, flags: { nodad: true } },
        { address },
        { flags: FlagsNew.CREATE | FlagsNew.EXCL },
      );
    } catch (error) {
      if (rtnetlinkErrorCode(error) === 'EEXIST') return { name, ifindex: link.ifindex, address, added: false };
      throw describe(error, `adding ${formatIPv6(address)}/${BRIDGE_PREFIX_LENGTH6} to ${name}`);
    }
    return { name, ifindex: link.ifindex, address, added: true };
  });
}

/** Removes the address if we added it and the bridge is still the one we set up (same ifindex). Returns whether it did. */
export async function removeBridgeAddress6(state: BridgeAddress6): Promise<boolean> {
  if (!state.added) return false;
  return withRtnetlink(async (socket) => {
    const link = await findLink(socket, state.name);
    if (link === null || link.ifindex !== state.ifindex) return false;
    try {
      await socket.delAddress({ family: AF_INET6, prefixlen: BRIDGE_PREFIX_LENGTH6, index: state.ifindex }, { address: state.address });
    } catch (error) {
      if (rtnetlinkErrorCode(error) === 'EADDRNOTAVAIL') return false;
      throw describe(error, `removing ${formatIPv6(state.address)} from ${state.name}`);
    }
    return true;
  });
}
