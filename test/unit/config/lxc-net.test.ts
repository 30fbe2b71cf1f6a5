import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LXC_NET_DEFAULTS, type LxcNetSettings, lxcNetFlags, parseLxcNet } from '../../../src/config/lxc-net.ts';
import { MAX_SHELL_FILE_BYTES, MAX_SHELL_LINE_LENGTH } from '../../../src/config/shell-assignments.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

// Debian 12's lxc 1:5.0.2-1+deb12u4 ships these two files as they are here.
const DEBIAN_LXC = `# LXC_AUTO - whether or not to start containers at boot
LXC_AUTO="true"

# BOOTGROUPS - What groups should start on bootup?
#	Comma separated list of groups.
#	Leading comma, trailing comma or embedded double
#	comma indicates when the NULL group should be run.
# Example (default): boot the onboot group first then the NULL group
BOOTGROUPS="onboot,"

# SHUTDOWNDELAY - Wait time for a container to shut down.
#	Container shutdown can result in lengthy system
#	shutdown times.  Even 5 seconds per container can be
#	too long.
SHUTDOWNDELAY=5

# OPTIONS can be used for anything else.
#	If you want to boot everything then
#	options can be "-a" or "-a -A".
OPTIONS=

# STOPOPTS are stop options.  The can be used for anything else to stop.
#	If you want to kill containers fast, use -k
STOPOPTS="-a -A -s"

USE_LXC_BRIDGE="false"  # overridden in lxc-net

[ ! -f /etc/default/lxc-net ] || . /etc/default/lxc-net
`;
const DEBIAN_LXC_NET = `USE_LXC_BRIDGE="true"

# Honor system's dnsmasq configuration
#LXC_DHCP_CONFILE=/etc/dnsmasq.conf
`;
const lxc = { path: '/etc/default/lxc', text: DEBIAN_LXC };
const net = (text: string) => ({ path: '/etc/default/lxc-net', text });
const ip = (t: string) => parseIPv4(t) as number;

test("Debian's shipped files give lxc-net's defaults and the flags that serve them", () => {
  const r = parseLxcNet(net(DEBIAN_LXC_NET), lxc);
  assert.ok(r.ok, r.ok ? '' : r.error);
  const expected: LxcNetSettings = {
    bridge: 'lxcbr0',
    bridgeMac: '00:16:3e:00:00:00',
    address: ip('10.0.3.1'),
    prefixLength: 24,
    range: { first: ip('10.0.3.2'), last: ip('10.0.3.254') },
    leaseSeconds: null,
    leaseMax: 253,
    confFile: null,
    ping: true,
    domain: null,
    ipv6: null,
    useBridge: true,
    unread: [],
  };
  assert.deepEqual(r.value, expected);
  const flags = lxcNetFlags(r.value);
  assert.deepEqual(
    { ...flags, notes: [] },
    {
      bridge: 'lxcbr0',
      'bridge-mac': '00:16:3e:00:00:00',
      address: '10.0.3.1/24',
      range: '10.0.3.2-10.0.3.254',
      domain: 'lxc',
      'bare-names': true,
      probe: true,
      ipv6: 'none',
      'dnsmasq-conf': null,
      notes: [],
    },
  );
  assert.ok(flags.notes.some((n) => n.startsWith('LXC_DOMAIN is empty')));
});

test('every variable set, in lxc-net then overridden after the source line of /etc/default/lxc', () => {
  const all = `# every variable lxc 5.0's lxc-net reads
export USE_LXC_BRIDGE=true
LXC_BRIDGE=br-lxc
LXC_BRIDGE_MAC='00:16:3e:aa:bb:cc'
LXC_ADDR="10.20.0.1"
LXC_NETMASK="255.255.0.0"
LXC_NETWORK="10.20.0.0/16"
LXC_DHCP_RANGE="10.20.1.2,10.20.1.200,12h"
LXC_DHCP_MAX="100"
LXC_DHCP_CONFILE=/etc/lxc/dnsmasq.conf
LXC_DHCP_PING="false"
LXC_DOMAIN="Containers.example"
LXC_IPV6_ADDR="fd12:3456:789a:1::1"
LXC_IPV6_MASK="64"
LXC_IPV6_NETWORK="fd12:3456:789a:1::/$LXC_IPV6_MASK"
LXC_IPV6_NAT="true"
`;
  const lxcAfter = { path: '/etc/default/lxc', text: `${DEBIAN_LXC}LXC_DHCP_MAX=50\n` };
  const r = parseLxcNet(net(all), lxcAfter);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.value.leaseMax, 50, 'an assignment below the source line wins, as in the shell');
  assert.equal(r.value.domain, 'containers.example');
  assert.deepEqual(r.value.ipv6, { address: 'fd12:3456:789a:1::1', prefixLength: 64, nat: true });
  const flags = lxcNetFlags(r.value);
  assert.deepEqual(
    { ...flags, notes: [] },
    {
      bridge: 'br-lxc',
      'bridge-mac': '00:16:3e:aa:bb:cc',
      address: '10.20.0.1/16',
      range: '10.20.1.2-10.20.1.200',
      'lease-time': 43200,
      domain: 'containers.example',
      'bare-names': true,
      probe: false,
      ipv6: 'fd12:3456:789a:1::1/64',
      nat6: true,
      'dnsmasq-conf': '/etc/lxc/dnsmasq.conf',
      notes: [],
    },
  );
  assert.ok(flags.notes.some((n) => n.includes('LXC_DHCP_MAX=50')));
});

test('without /etc/default/lxc (or without its source line) the lxc-net file is read after the defaults', () => {
  const r = parseLxcNet(net('LXC_ADDR=10.0.3.1\nLXC_DOMAIN=lxc\n'), null);
  assert.ok(r.ok);
  assert.equal(r.value.domain, 'lxc');
  const noSource = parseLxcNet(net('LXC_BRIDGE=br7\n'), { path: '/etc/default/lxc', text: 'USE_LXC_BRIDGE=false\n' });
  assert.ok(noSource.ok);
  assert.equal(noSource.value.bridge, 'br7');
  assert.equal(noSource.value.useBridge, false);
  assert.match(lxcNetFlags(noSource.value).notes[0] as string, /USE_LXC_BRIDGE is not "true"/);
});

test('quoting, escapes, comments and $NAME expansion read as the shell reads them', () => {
  const r = parseLxcNet(net(`LXC_BRIDGE="lxc"'br'0 # comment\nLXC_NETWORK=10.0.3.0/\\24\n`), null);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.value.bridge, 'lxcbr0');
  const inWord = parseLxcNet(net('LXC_DOMAIN=a#b\n'), null);
  assert.match((inWord as { error: string }).error, /LXC_DOMAIN="a#b"/, '# inside a word is part of the value');
  const quotedBackslash = parseLxcNet(net('LXC_NETWORK="10.0.3.0/\\24"\n'), null);
  assert.match((quotedBackslash as { error: string }).error, /LXC_NETWORK="10.0.3.0\/\\\\24"/, 'a backslash before 2 stays inside double quotes');
  const expanded = parseLxcNet(net(`SUBNET=10.0.9\nLXC_ADDR="$SUBNET.1"\nLXC_NETWORK=\${SUBNET}.0/24\nLXC_DHCP_RANGE=$SUBNET.2,$SUBNET.254\n`), null);
  assert.ok(expanded.ok, expanded.ok ? '' : expanded.error);
  assert.equal(expanded.value.address, ip('10.0.9.1'));
  assert.deepEqual(expanded.value.unread, [], 'SUBNET is not LXC_*: a helper variable, not a typo');
  const typo = parseLxcNet(net('LXC_DHCP_RANG="10.0.3.2,10.0.3.9"\n'), null);
  assert.ok(typo.ok);
  assert.deepEqual(typo.value.unread, ['/etc/default/lxc-net:1 LXC_DHCP_RANG']);
});

test('a line that is not a plain assignment is one error naming file and line', () => {
  const cases: [string, RegExp][] = [
    ['LXC_ADDR=$(hostname -i)', /is shell code/],
    ['LXC_ADDR=`hostname -i`', /is shell syntax|backtick/],
    ['LXC_ADDR="`hostname -i`"', /backtick runs a command/],
    [`LXC_ADDR=\${X:-10.0.3.1}`, /is shell code/],
    ['LXC_ADDR=$UNSET', /\$UNSET is not set above/],
    ['if true; then LXC_ADDR=1; fi', /not a NAME=value assignment/],
    ['LXC_ADDR=10.0.3.1; rm -rf /', /";" is shell syntax/],
    ['LXC_ADDR=10.0.3.1 rm', /would run as a command/],
    ['LXC_DOMAIN="lxc', /double quote is not closed/],
    ["LXC_DOMAIN='lxc", /single quote is not closed/],
    ['LXC_DOMAIN=lxc\\', /line continuation/],
    ['. /etc/something-else', /sourcing \/etc\/something-else is not read/],
  ];
  for (const [line, pattern] of cases) {
    const r = parseLxcNet(net(`# first\n\n${line}\n`), null);
    assert.equal(r.ok, false, line);
    const error = (r as { error: string }).error;
    assert.ok(error.startsWith('/etc/default/lxc-net:3: '), `${line}: ${error}`);
    assert.match(error, pattern, line);
  }
});

test('a value lxc-dhcpd cannot serve is one error naming the line that set it', () => {
  const cases: [string, RegExp][] = [
    ['LXC_ADDR=10.0.3.300', /LXC_ADDR="10.0.3.300": is not an IPv4 address/],
    ['LXC_NETMASK=255.0.255.0', /is not a netmask/],
    ['LXC_NETMASK=255.255.255.255', /is not a netmask/],
    ['LXC_NETWORK=10.0.4.0/24', /is not LXC_ADDR\/LXC_NETMASK's subnet 10.0.3.0\/24/],
    ['LXC_DHCP_RANGE=10.0.4.2,10.0.4.254', /outside the bridge subnet/],
    ['LXC_DHCP_RANGE=10.0.3.1,10.0.3.254', /contains the bridge address/],
    ['LXC_DHCP_RANGE=10.0.3.2,10.0.3.254,infinite', /"infinite" is not supported/],
    ['LXC_DHCP_RANGE=tag:x,10.0.3.2,10.0.3.254', /tags/],
    ['LXC_DHCP_MAX=lots', /is not a number of leases/],
    ['LXC_BRIDGE=a-very-long-bridge-name', /is not an interface name/],
    ['LXC_BRIDGE_MAC=00:16:3e', /is not a MAC address/],
    ['LXC_DOMAIN=-bad-', /is not a domain name/],
  ];
  for (const [line, pattern] of cases) {
    const r = parseLxcNet(net(`USE_LXC_BRIDGE=true\n${line}\n`), null);
    assert.equal(r.ok, false, line);
    const error = (r as { error: string }).error;
    assert.ok(error.startsWith('/etc/default/lxc-net:2: '), `${line}: ${error}`);
    assert.match(error, pattern, line);
  }
  const v6 = 'LXC_IPV6_ADDR=fd00:1::1\nLXC_IPV6_MASK=64\nLXC_IPV6_NETWORK=fd00:1::/64\n';
  const mask = parseLxcNet(net(v6.replace('MASK=64', 'MASK=48')), null);
  assert.match((mask as { error: string }).error, /^\/etc\/default\/lxc-net:2: LXC_IPV6_MASK="48": only 64/);
  const linkLocal = parseLxcNet(net(v6.replace(/fd00:1::/g, 'fe80::')), null);
  assert.match((linkLocal as { error: string }).error, /^\/etc\/default\/lxc-net:1: .*link-local/);
  const network = parseLxcNet(net(v6.replace('NETWORK=fd00:1::', 'NETWORK=fd00:2::')), null);
  assert.match((network as { error: string }).error, /^\/etc\/default\/lxc-net:3: .*is not LXC_IPV6_ADDR's prefix fd00:1::\/64/);
  const partial = parseLxcNet(net('LXC_IPV6_ADDR=fd00:1::1\n'), null);
  assert.ok(partial.ok);
  assert.equal(partial.value.ipv6, null, 'lxc-net starts IPv6 only with all three set');
});

test('an error in /etc/default/lxc names that file, and a defaults error names the default', () => {
  const r = parseLxcNet(net(''), { path: '/etc/default/lxc', text: 'OPTIONS=-a\nLXC_ADDR=nope\n' });
  assert.match((r as { error: string }).error, /^\/etc\/default\/lxc:2: LXC_ADDR="nope"/);
  assert.equal(LXC_NET_DEFAULTS.LXC_BRIDGE, 'lxcbr0');
});

test('hostile files: size, NUL bytes and very long lines are bounded errors', () => {
  const huge = parseLxcNet(net(`# ${'x'.repeat(MAX_SHELL_FILE_BYTES)}\n`), null);
  assert.match((huge as { error: string }).error, /^\/etc\/default\/lxc-net: larger than 65536 bytes/);
  const nul = parseLxcNet(net('LXC_BRIDGE=lxcbr0\nLXC_DOMAIN=l\0xc\n'), null);
  assert.match((nul as { error: string }).error, /^\/etc\/default\/lxc-net:2: contains a NUL byte/);
  const long = parseLxcNet(net(`LXC_DOMAIN=${'a'.repeat(MAX_SHELL_LINE_LENGTH)}\n`), null);
  assert.match((long as { error: string }).error, /^\/etc\/default\/lxc-net:1: longer than 4096/);
  const many = parseLxcNet(net('A=1\n'.repeat(10000)), null);
  assert.ok(many.ok, 'ten thousand short lines are still read');
});
