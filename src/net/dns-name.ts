/**
 * The one syntax check for DNS names a person or a peer writes: a host name label (RFC 1123 §2.1: letters, digits and
 * hyphen, 1–63 characters, no leading or trailing hyphen) and a domain made of such labels (at most 253 characters,
 * RFC 1035 §2.3.4). Case-insensitive, as DNS is; callers that store names lower-case them. Reservations, dnsmasq and
 * lxc-net files, control requests and the cluster's etcd records all check names here. (What a DHCP client calls
 * itself is not checked but mapped onto a label: src/leases/host-label.ts.)
 */

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
/** RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text. */
const MAX_DOMAIN_LENGTH = 253;

export function isDnsLabel(text: string): boolean {
  return LABEL.test(text);
}

export function isDomainName(text: string): boolean {
  return text.length <= MAX_DOMAIN_LENGTH && text.split('.').every(isDnsLabel);
}
