// Log hygiene (issue 11): a value a client chose must not forge a log line, a journald priority or a terminal escape,
// whether it went through quote() or reached the logger raw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, oneLine, quote } from '../../src/log.ts';

/** Characters that may not appear raw in anything written to the log. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters the log must never contain raw
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

test('quote() escapes DEL, the C1 controls and U+2028/U+2029, which JSON.stringify leaves raw', () => {
  assert.equal(quote('a\u007fb'), '"a\\u007fb"');
  assert.equal(quote('csi\u009b31m'), '"csi\\u009b31m"');
  assert.equal(quote('nel\u0085<0>x'), '"nel\\u0085<0>x"');
  assert.equal(quote('ls\u2028ps\u2029'), '"ls\\u2028ps\\u2029"');
  assert.equal(quote('rtl\u202eexe.txt'), '"rtl\\u202eexe.txt"');
  assert.equal(quote('zero\u200bwidth\ufeff'), '"zero\\u200bwidth\\ufeff"');
  for (let c = 0x80; c <= 0x9f; c++) assert.doesNotMatch(quote(`x${String.fromCharCode(c)}`), RAW_CONTROL, `U+${c.toString(16)}`);
});

test('quote() still escapes C0 controls and quotes, and leaves ordinary text (also non-ASCII letters) alone', () => {
  assert.equal(quote('web\n<0>forged'), '"web\\n<0>forged"');
  assert.equal(quote('esc\u001b[31m'), '"esc\\u001b[31m"');
  assert.equal(quote('say "hi"'), '"say \\"hi\\""');
  assert.equal(quote('héllo wörld ü'), '"héllo wörld ü"');
  assert.equal(quote(null), '-');
  assert.equal(quote(undefined), '-');
});

test('the logger writes one line per call whatever the message holds: no forged journald priority', () => {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l), 'journald');
  log.info('name web\n<0>forged emergency');
  log.warn('cr\r<1>alert and nel\u0085<2>crit and ls\u2028<3>err');
  log.debug(`raw DEL\u007f and CSI\u009b2J and ESC\u001b[2J and tab\there`);
  assert.equal(lines.length, 3);
  assert.equal(lines[0], '<6>name web\\n<0>forged emergency');
  assert.equal(lines[1], '<4>cr\\r<1>alert and nel\\u0085<2>crit and ls\\u2028<3>err');
  assert.equal(lines[2], '<7>raw DEL\\u007f and CSI\\u009b2J and ESC\\u001b[2J and tab\\there');
  for (const line of lines) {
    assert.doesNotMatch(line, RAW_CONTROL, line);
    assert.equal(line.split('\n').length, 1);
  }
});

test('the plain style is escaped the same way', () => {
  const lines: string[] = [];
  createLogger('info', (l) => lines.push(l)).error('boom\nerror: forged second line');
  assert.deepEqual(lines, ['error: boom\\nerror: forged second line']);
});

test('oneLine() returns a clean message as it is', () => {
  const clean = 'DHCPACK 10.0.0.100 02:1a:b0:00:00:01 "web" (name "wéb" used as "w-b")';
  assert.equal(oneLine(clean), clean);
});
