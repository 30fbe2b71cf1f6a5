import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDnsLabel, isDomainName } from '../../../src/net/dns-name.ts';

test('isDnsLabel: RFC 1123 labels, any case, 1-63 characters, no edge hyphen', () => {
  for (const ok of ['web', 'Web-1', '0', 'a'.repeat(63)]) assert.equal(isDnsLabel(ok), true, ok);
  for (const bad of ['', '-web', 'web-', 'we_b', 'web.lxc', 'a'.repeat(64), 'wéb', 'web\n']) assert.equal(isDnsLabel(bad), false, JSON.stringify(bad));
});

test('isDomainName: labels joined by dots, at most 253 characters', () => {
  for (const ok of ['lxc', 'example.ORG', `${'a'.repeat(63)}.${'b'.repeat(63)}`]) assert.equal(isDomainName(ok), true, ok);
  const long = Array.from({ length: 4 }, () => 'c'.repeat(63)).join('.');
  for (const bad of ['', 'lxc.', '.lxc', 'a..b', `x${'a'.repeat(63)}.lxc`, long]) assert.equal(isDomainName(bad), false, JSON.stringify(bad.slice(0, 20)));
});
