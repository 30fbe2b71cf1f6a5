/**
 * The DHCPv6 vocabulary (RFC 8415 §7 and §24, RFC 3646, RFC 4704, RFC 6939): message types, option codes, status
 * codes, DUID types, the UDP ports and the limits of the codec — the one place these numbers are written, as
 * pg-protocol's messages.ts holds its protocol's.
 */

/** RFC 8415 §7.3. */
export const MessageType = {
  Solicit: 1,
  Advertise: 2,
  Request: 3,
  Confirm: 4,
  Renew: 5,
  Rebind: 6,
  Reply: 7,
  Release: 8,
  Decline: 9,
  Reconfigure: 10,
  InformationRequest: 11,
  RelayForward: 12,
  RelayReply: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const MESSAGE_NAMES: Readonly<Record<number, string>> = {
  1: 'SOLICIT',
  2: 'ADVERTISE',
  3: 'REQUEST',
  4: 'CONFIRM',
  5: 'RENEW',
  6: 'REBIND',
  7: 'REPLY',
  8: 'RELEASE',
  9: 'DECLINE',
  10: 'RECONFIGURE',
  11: 'INFORMATION-REQUEST',
  12: 'RELAY-FORW',
  13: 'RELAY-REPL',
};

/** Option codes (RFC 8415 §21, RFC 3646 §3-4, RFC 4704 §4, RFC 6939 §4). */
export const Option6 = {
  ClientId: 1,
  ServerId: 2,
  IaNa: 3,
  IaTa: 4,
  IaAddress: 5,
  Oro: 6,
  Preference: 7,
  ElapsedTime: 8,
  RelayMessage: 9,
  StatusCode: 13,
  RapidCommit: 14,
  DnsServers: 23,
  DomainList: 24,
  IaPd: 25,
  InformationRefreshTime: 32,
  ClientFqdn: 39,
  ClientLinkLayerAddress: 79,
} as const;

/** RFC 8415 §21.13. */
export const StatusCode = {
  Success: 0,
  UnspecFail: 1,
  NoAddrsAvail: 2,
  NoBinding: 3,
  NotOnLink: 4,
  UseMulticast: 5,
} as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/** RFC 8415 §11.1 (DUID-LLT 1, DUID-EN 2, DUID-LL 3) and RFC 6355 (DUID-UUID 4). */
export const DuidType = { Llt: 1, En: 2, Ll: 3, Uuid: 4 } as const;

/** IANA hardware type of Ethernet (RFC 826), used in DUID-LL/LLT and option 79. */
export const HARDWARE_ETHERNET = 1;

/** RFC 8415 §7.2. */
export const CLIENT_PORT = 546;
export const SERVER_PORT = 547;
/** All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1), where clients send everything but unicast messages. */
export const ALL_DHCP_AGENTS = 'ff02::1:2';

/** Bytes of the message header: msg-type and transaction-id (RFC 8415 §8). */
export const HEADER_LENGTH = 4;
/** Bytes of an option header: code and length (RFC 8415 §21.1). */
export const OPTION_HEADER_LENGTH = 4;
/** IA_NA fixed part: IAID, T1, T2 (RFC 8415 §21.4). */
export const IA_NA_FIXED_LENGTH = 12;
/** IA Address fixed part: address, preferred and valid lifetimes (RFC 8415 §21.6). */
export const IA_ADDRESS_FIXED_LENGTH = 24;

/**
 * Options read from one message's top level. A real Solicit carries 5-8 (dhclient: 5, dhcpcd: 8, systemd-networkd:
 * 9 with vendor options); 64 leaves room for any honest client and bounds the work one 64 KiB datagram of 4-byte empty
 * options (16 000 of them) could cause. Beyond it the message is refused ('too-many-options').
 */
export const MAX_OPTIONS = 64;
/**
 * Options read inside one IA_NA or one IA Address (RFC 8415 §21.4, §21.6: IA Addresses and a Status Code). A client
 * asks for one address per IA in practice; 16 bounds the nested walk the same way MAX_OPTIONS bounds the top level.
 */
export const MAX_INNER_OPTIONS = 16;
/**
 * Bytes of a DUID (RFC 8415 §11.1: "MUST NOT exceed 128 octets, not including the type code"): 2 + 128. Longer is
 * refused, so a stored duidHex is bounded.
 */
export const MAX_DUID_LENGTH = 130;
/**
 * IA_NAs of one message that are served; later ones are ignored. A client (MAC, DUID) holds at most
 * MAX_BINDINGS_PER_CLIENT (4) addresses anyway, and 4 IAs keep every reply under IPV6_MIN_PAYLOAD (see there) whatever
 * the client sends.
 */
export const MAX_IA_PER_MESSAGE = 4;
/**
 * Addresses of an IA that are not its binding, sent back with lifetimes 0 in a Renew/Rebind Reply (§18.3.4): at most
 * this many per IA, so the reply stays bounded (4 × 28 bytes an IA).
 */
export const MAX_ZERO_LIFETIME_ECHOES = 4;
/**
 * The UDP payload that always fits without fragmentation: the IPv6 minimum MTU 1280 (RFC 8200 §5) less the IPv6 (40)
 * and UDP (8) headers. Every reply we build is smaller: at most 4 IAs of 5 addresses and a status (~190 bytes each),
 * both identifiers (≤ 2 × 134), DNS servers, the domain list and an FQDN.
 */
export const IPV6_MIN_PAYLOAD = 1232;
