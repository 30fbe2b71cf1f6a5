import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { clientName, toHostLabel } from '../../../src/dhcp/hostname.ts';
import { DhcpOptions, FQDN_FLAG_E, FQDN_FLAG_S } from '../../../src/dhcp/options.ts';

test('typed readers return undefined for values of the wrong length', () => {
  const o = new DhcpOptions();
  o.set(Option.LeaseTime, Buffer.from([0, 0, 14]));
  o.set(Option.MaxMessageSize, Buffer.from([5]));
  o.set(Option.MessageType, Buffer.from([1, 2]));
  o.set(Option.Router, Buffer.from([10, 0, 0, 1, 10]));
  assert.equal(o.getUint32(Option.LeaseTime), undefined);
  assert.equal(o.maxMessageSize, undefined);
  assert.equal(o.messageType, undefined);
  assert.equal(o.getIPv4List(Option.Router), undefined);
  assert.equal(o.getUint32(200), undefined);
});

test('typed writers and readers agree', () => {
  const o = new DhcpOptions();
  o.setUint32(Option.LeaseTime, 0xfffffffe);
  o.setUint16(Option.MaxMessageSize, 1500);
  o.setIPv4List(Option.Router, [0x0a000001, 0xc0a80101]);
  o.setMessageType(MessageType.Nak);
  o.setText(Option.HostName, 'web');
  assert.equal(o.getUint32(Option.LeaseTime), 0xfffffffe);
  assert.equal(o.maxMessageSize, 1500);
  assert.deepEqual(o.getIPv4List(Option.Router), [0x0a000001, 0xc0a80101]);
  assert.equal(o.messageType, MessageType.Nak);
  assert.equal(o.hostname, 'web');
  assert.deepEqual(o.codes(), [51, 57, 3, 53, 12]);
  o.setUint8(Option.MessageType, 9);
  assert.equal(o.messageType, undefined);
});

test('append concatenates repeated instances (RFC 3396) without reordering', () => {
  const o = new DhcpOptions();
  o.append(119, Buffer.from([1, 2]));
  o.append(12, Buffer.from('x'));
  o.append(119, Buffer.from([3]));
  assert.deepEqual(o.get(119), Buffer.from([1, 2, 3]));
  assert.deepEqual(o.codes(), [119, 12]);
});

test('getText stops at a NUL counted in the length', () => {
  const o = new DhcpOptions();
  o.set(Option.HostName, Buffer.from('box\0\0'));
  assert.equal(o.hostname, 'box');
  o.set(Option.HostName, Buffer.alloc(0));
  assert.equal(o.hostname, undefined);
});

test('client id keeps zero bytes and needs at least 2 bytes', () => {
  const o = new DhcpOptions();
  o.set(Option.ClientIdentifier, Buffer.from([0, 0, 0]));
  assert.deepEqual(o.clientId, Buffer.from([0, 0, 0]));
  o.set(Option.ClientIdentifier, Buffer.from([1]));
  assert.equal(o.clientId, undefined);
});

test('rapid commit only as an empty option', () => {
  const o = new DhcpOptions();
  assert.equal(o.rapidCommit, false);
  o.set(Option.RapidCommit, Buffer.alloc(0));
  assert.equal(o.rapidCommit, true);
  o.set(Option.RapidCommit, Buffer.from([1]));
  assert.equal(o.rapidCommit, false);
});

test('client FQDN: wire format full and partial, ASCII form, bad wire data', () => {
  const o = new DhcpOptions();
  o.set(Option.ClientFqdn, Buffer.from([0x05, 0, 0, 3, 0x77, 0x65, 0x62, 3, 0x6c, 0x78, 0x63, 0]));
  assert.deepEqual(o.clientFqdn, { flags: FQDN_FLAG_S | FQDN_FLAG_E, name: 'web.lxc', wireFormat: true });
  o.set(Option.ClientFqdn, Buffer.from([0x05, 0, 0, 3, 0x77, 0x65, 0x62]));
  assert.deepEqual(o.clientFqdn, { flags: 0x05, name: 'web', wireFormat: true });
  o.set(Option.ClientFqdn, Buffer.concat([Buffer.from([0x01, 0, 0]), Buffer.from('db.lxc\0')]));
  assert.deepEqual(o.clientFqdn, { flags: 0x01, name: 'db.lxc', wireFormat: false });
  o.set(Option.ClientFqdn, Buffer.from([0x04, 0, 0, 9, 0x61]));
  assert.equal(o.clientFqdn, undefined);
  o.set(Option.ClientFqdn, Buffer.from([0x04, 0]));
  assert.equal(o.clientFqdn, undefined);
});

test('domain search accessor round trip', () => {
  const o = new DhcpOptions();
  assert.equal(o.setDomainSearch(['lxc', 'example.lxc']), true);
  assert.deepEqual(o.domainSearch, ['lxc', 'example.lxc']);
  assert.equal(o.setDomainSearch(['bad..name']), false);
  assert.deepEqual(o.domainSearch, ['lxc', 'example.lxc']);
});

test('host labels from client names', () => {
  assert.equal(toHostLabel('Web_Server.example'), 'web-server');
  assert.equal(toHostLabel('--x--'), 'x');
  assert.equal(toHostLabel('...'), null);
  assert.equal(toHostLabel('a'.repeat(70)), 'a'.repeat(63));
  const o = new DhcpOptions();
  o.setText(Option.HostName, 'My Box');
  assert.deepEqual(clientName(o), { label: 'my-box', raw: 'My Box', changed: true });
  // Option 81 wins over option 12.
  o.set(Option.ClientFqdn, Buffer.from([0x05, 0, 0, 4, 0x6e, 0x61, 0x6d, 0x65]));
  assert.deepEqual(clientName(o), { label: 'name', raw: 'name', changed: false });
  assert.deepEqual(clientName(new DhcpOptions()), { label: null, raw: null, changed: false });
});
