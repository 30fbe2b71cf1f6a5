import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkConfigReport } from '../../../src/config/check-config.ts';
import { parseDnsmasqConf } from '../../../src/config/dnsmasq-conf.ts';
import { lxcNetFlags, parseLxcNet } from '../../../src/config/lxc-net.ts';

test('the report gives the serve flags, what differs from lxc-net, the conf file as flags and every line not served', () => {
  const settings = parseLxcNet({ path: '/etc/default/lxc-net', text: 'LXC_DHCP_PING=false\nLXC_DHCP_CONFILE=/etc/lxc/dnsmasq.conf\n' }, null);
  assert.ok(settings.ok);
  const conf = parseDnsmasqConf(
    "dhcp-host=mail1,10.0.3.100\ndhcp-host=00:16:3e:12:34:56,10.0.3.50,[fd00::50],db\ntxt-record=t,it's\nserver=2001:db8::53\ndhcp-option=121,10.9.0.0/16,10.0.3.2\nno-resolv\ndhcp-lease-max=100\ndhcp-boot=pxelinux.0\n",
    '/etc/lxc/dnsmasq.conf',
    'lxc',
  );
  assert.ok(conf.ok);
  const report = checkConfigReport(lxcNetFlags(settings.value), { file: '/etc/lxc/dnsmasq.conf', settings: conf.value });
  assert.equal(
    report,
    `lxc-net settings serve as:
  --bridge lxcbr0
  --bridge-mac 00:16:3e:00:00:00
  --address 10.0.3.1/24
  --range 10.0.3.2-10.0.3.254
  --domain lxc
  --bare-names
  --no-probe
  --ipv6 none
  (dnsmasq conf: /etc/lxc/dnsmasq.conf)
served differently from lxc-net:
  LXC_DOMAIN is empty: containers get domain lxc (option 15) and answer as NAME and NAME.lxc
/etc/lxc/dnsmasq.conf serves as:
  --host 00:16:3e:12:34:56,10.0.3.50,[fd00::50],db
  --host mail1,10.0.3.100
  --dns-record 't.lxc,TXT,it'\\''s'
  --upstream [2001:db8::53]:53
  --route 10.9.0.0/16,10.0.3.2
  (dhcp-lease-max=100: no cap in lxc-dhcpd, the range bounds the leases)
not served (1 line):
  /etc/lxc/dnsmasq.conf:8: dhcp-boot: not an option lxc-dhcpd reads
`,
  );
});

test('a conf file alone, with nothing served, says so', () => {
  const conf = parseDnsmasqConf('log-queries\n', 'x.conf', 'lxc');
  assert.ok(conf.ok);
  assert.equal(
    checkConfigReport(null, { file: 'x.conf', settings: conf.value }),
    'x.conf serves as:\n  (nothing)\nnot served (1 line):\n  x.conf:1: log-queries: not an option lxc-dhcpd reads\n',
  );
});
