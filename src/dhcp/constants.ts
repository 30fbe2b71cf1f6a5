/** BOOTP/DHCP constants (RFC 951, RFC 2131, RFC 2132 and later option RFCs). */

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const HTYPE_ETHERNET = 1;
export const ETHERNET_HLEN = 6;

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

/** Length of the fixed BOOTP header, up to and excluding the magic cookie. */
export const BOOTP_HEADER_LENGTH = 236;
export const MAGIC_COOKIE = 0x63825363;
/** RFC 951: a BOOTP message is at least 300 bytes; some relays and old clients drop anything shorter. */
export const BOOTP_MIN_LENGTH = 300;
export const BROADCAST_FLAG = 0x8000;

export const SNAME_OFFSET = 44;
export const SNAME_LENGTH = 64;
export const FILE_OFFSET = 108;
export const FILE_LENGTH = 128;
export const CHADDR_OFFSET = 28;
export const CHADDR_LENGTH = 16;

export enum MessageType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
}

const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

export function messageTypeName(type: number | undefined): string {
  return type === undefined ? 'NONE' : (MESSAGE_TYPE_NAMES[type] ?? `TYPE${type}`);
}

/** Option codes used by this server. */
export const Option = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DomainNameServer: 6,
  HostName: 12,
  DomainName: 15,
  InterfaceMtu: 26,
  BroadcastAddress: 28,
  RequestedIpAddress: 50,
  LeaseTime: 51,
  OptionOverload: 52,
  MessageType: 53,
  ServerIdentifier: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClassIdentifier: 60,
  ClientIdentifier: 61,
  RapidCommit: 80,
  ClientFqdn: 81,
  RelayAgentInformation: 82,
  DomainSearch: 119,
  ClasslessStaticRoute: 121,
  End: 255,
} as const;

export const OVERLOAD_FILE = 1;
export const OVERLOAD_SNAME = 2;
