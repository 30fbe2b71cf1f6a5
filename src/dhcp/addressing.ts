/** Where a reply goes, per RFC 2131 §4.1 (the same order sd-dhcp-server uses). */
import type { IPv4 } from '../net/address.ts';
import { BROADCAST_MAC, IPV4_BROADCAST } from '../wire/frame.ts';
import { BROADCAST_FLAG, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, MessageType } from './constants.ts';
import type { DhcpMessage } from './message.ts';

export interface ReplyDestination {
  mac: string;
  ip: IPv4;
  port: number;
  /** Why this destination was chosen, for debug logs and tests. */
  rule: 'relay' | 'nak-broadcast' | 'ciaddr' | 'broadcast-flag' | 'yiaddr-unicast';
}

/**
 * `frameSrcMac` is the Ethernet source of the request (the relay's MAC for relayed requests); `clientHw` the client's
 * chaddr. Unicast to yiaddr works without an ARP entry because we address the frame to chaddr ourselves.
 */
export function replyDestination(request: DhcpMessage, replyType: MessageType, yiaddr: IPv4, frameSrcMac: string, clientHw: string): ReplyDestination {
  if (request.giaddr !== 0) return { mac: frameSrcMac, ip: request.giaddr, port: DHCP_SERVER_PORT, rule: 'relay' };
  if (replyType === MessageType.Nak) {
    return { mac: BROADCAST_MAC, ip: IPV4_BROADCAST, port: DHCP_CLIENT_PORT, rule: 'nak-broadcast' };
  }
  if (request.ciaddr !== 0) return { mac: clientHw, ip: request.ciaddr, port: DHCP_CLIENT_PORT, rule: 'ciaddr' };
  if (request.flags & BROADCAST_FLAG || yiaddr === 0) {
    return { mac: BROADCAST_MAC, ip: IPV4_BROADCAST, port: DHCP_CLIENT_PORT, rule: 'broadcast-flag' };
  }
  return { mac: clientHw, ip: yiaddr, port: DHCP_CLIENT_PORT, rule: 'yiaddr-unicast' };
}
