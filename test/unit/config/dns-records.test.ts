/** `--dns-record NAME,TYPE,DATA`: names qualified with --domain, each type's data checked, one-sentence errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TXT_BYTES, parseDnsRecord, parseDnsRecords } from '../../../src/config/dns-records.ts';

function value(text: string): unknown {
  const r = parseDnsRecord(text, 'lxc');
  assert.ok(r.ok, `${text}: ${r.ok ? '' : r.error}`);
  return r.value;
}

function error(text: string): string {
  const r = parseDnsRecord(text, 'lxc');
  assert.ok(!r.ok, `${text} must be refused`);
  return r.error;
}

test('each type parses; a name without a dot is inside --domain, one with a dot is as written', () => {
  assert.deepEqual(value('printer,A,10.0.0.9'), { name: 'printer.lxc', type: 'A', data: '10.0.0.9' });
  assert.deepEqual(value('Printer.LXC.,a,10.0.0.9'), { name: 'printer.lxc', type: 'A', data: '10.0.0.9' });
  assert.deepEqual(value('db.example.com,AAAA,2001:DB8::9'), { name: 'db.example.com', type: 'AAAA', data: '2001:db8::9' });
  assert.deepEqual(value('www,CNAME,web'), { name: 'www.lxc', type: 'CNAME', data: 'web.lxc' });
  assert.deepEqual(value('www,CNAME,example.org.'), { name: 'www.lxc', type: 'CNAME', data: 'example.org' });
  assert.deepEqual(value('info,TXT,v=1, with commas ,'), { name: 'info.lxc', type: 'TXT', data: ['v=1, with commas ,'] });
  assert.deepEqual(value('_sip._udp.example.com,SRV,1 2 5060 sip.example.com.'), {
    name: '_sip._udp.example.com',
    type: 'SRV',
    data: { priority: 1, weight: 2, port: 5060, target: 'sip.example.com' },
  });
  assert.deepEqual(value('lxc,A,10.0.0.9'), { name: 'lxc.lxc', type: 'A', data: '10.0.0.9' });
  assert.deepEqual(value('_http._tcp,SRV,0 5 8080 web'), {
    name: '_http._tcp.lxc',
    type: 'SRV',
    data: { priority: 0, weight: 5, port: 8080, target: 'web.lxc' },
  });
});

test('long TXT text is split into 255-byte strings', () => {
  const r = value(`t,TXT,${'x'.repeat(600)}`) as { data: string[] };
  assert.deepEqual(
    r.data.map((s) => s.length),
    [255, 255, 90],
  );
  const utf8 = value(`t,TXT,${'é'.repeat(200)}`) as { data: string[] };
  assert.deepEqual(
    utf8.data.map((s) => Buffer.byteLength(s)),
    [254, 146],
    'cut between characters, never inside one',
  );
  assert.equal(utf8.data.join(''), 'é'.repeat(200));
  assert.deepEqual((value('t,TXT,') as { data: string[] }).data, [''], 'empty text: one empty string');
  assert.match(error(`t,TXT,${'x'.repeat(MAX_TXT_BYTES + 1)}`), /longer than/);
});

test('bad values are refused with one sentence naming the flag', () => {
  for (const bad of [
    'printer',
    'printer,A',
    'printer,A,10.0.0.256',
    'printer,A,2001:db8::1',
    'printer,AAAA,10.0.0.9',
    'printer,MX,10 mail',
    'bad name,A,10.0.0.9',
    '-x,A,10.0.0.9',
    ',A,10.0.0.9',
    'www,CNAME,not a name',
    's,SRV,0 5 80',
    's,SRV,0 5 70000 web',
    's,SRV,a b c web',
    'lxc.,A,10.0.0.9',
    'ns,A,10.0.0.9',
    'ns.lxc,TXT,hello',
  ]) {
    const e = error(bad);
    assert.match(e, /^--dns-record /, bad);
    assert.ok(!e.includes('\n'), bad);
  }
});

test('a CNAME shares its name with no other record', () => {
  assert.ok(parseDnsRecords(['a,A,10.0.0.9', 'a,TXT,x', 'b,CNAME,a'], 'lxc').ok);
  for (const texts of [
    ['a,A,10.0.0.9', 'a,CNAME,b'],
    ['a,CNAME,b', 'A.lxc,TXT,x'],
    ['a,CNAME,b', 'a,CNAME,c'],
  ]) {
    const r = parseDnsRecords(texts, 'lxc');
    assert.ok(!r.ok, texts.join(' '));
    assert.match(r.error, /CNAME/);
  }
});
