import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  DnsmasqLeaseFile,
  dnsmasqRecordToLease,
  formatClientIdHex,
  formatDnsmasqLease6Line,
  formatDnsmasqLeaseLine,
  formatDnsmasqLeases,
  parseDnsmasqLeases,
  writeFileAtomic,
} from '../../../src/leases/dnsmasq-format.ts';
import type { Lease } from '../../../src/leases/lease.ts';
import type { StoredLease6 } from '../../../src/leases/lease6.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

/** Polls until `done()` holds (writes involve fsync: how long they take depends on the machine's load). */
async function waitUntil(done: () => boolean, limitMs = 5000): Promise<void> {
  const started = Date.now();
  while (!done() && Date.now() - started < limitMs) await new Promise((resolve) => setTimeout(resolve, 10));
}

const NOW = 1_700_000_000_000;

function lease(overrides: Partial<Omit<Lease, 'ip'>> & { ip: string }): Lease {
  const { ip, ...rest } = overrides;
  return {
    mac: '02:1a:b0:00:00:01',
    clientId: null,
    hostname: null,
    state: 'bound',
    expiresAt: NOW + 3_600_000,
    updatedAt: NOW,
    ...rest,
    ip: parseIPv4(ip) as number,
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'lxo-dnsmasq-format-'));
}

describe('formatDnsmasqLeaseLine', () => {
  it('writes expiry seconds, MAC, IP, hostname and the client id as colon-separated lowercase hex', () => {
    const line = formatDnsmasqLeaseLine(
      lease({ ip: '10.0.0.155', mac: '02:1a:b0:00:00:02', hostname: 'beta', clientId: Buffer.from('ff0000000100010a0B', 'hex'), expiresAt: 1795824543_000 }),
    );
    assert.equal(line, '1795824543 02:1a:b0:00:00:02 10.0.0.155 beta ff:00:00:00:01:00:01:0a:0b');
  });

  it('writes * for a missing hostname and client id, and rounds the expiry down to whole seconds', () => {
    assert.equal(formatDnsmasqLeaseLine(lease({ ip: '10.0.0.7', expiresAt: 1795824543_999 })), '1795824543 02:1a:b0:00:00:01 10.0.0.7 * *');
    assert.equal(formatDnsmasqLeaseLine(lease({ ip: '10.0.0.7', clientId: Buffer.alloc(0) })).endsWith(' * *'), true);
  });

  it('never lets a hostname break the line format', () => {
    for (const bad of ['two words', 'tab\there', 'new\nline', '', '-x', 'a..b']) {
      assert.equal(
        formatDnsmasqLeaseLine(lease({ ip: '10.0.0.7', hostname: bad })),
        `${Math.floor((NOW + 3_600_000) / 1000)} 02:1a:b0:00:00:01 10.0.0.7 * *`,
        JSON.stringify(bad),
      );
    }
    assert.match(formatDnsmasqLeaseLine(lease({ ip: '10.0.0.7', hostname: 'web-1.lxc' })), / web-1\.lxc \*$/);
  });

  it('formats client ids byte by byte', () => {
    assert.equal(formatClientIdHex(Buffer.from([1, 2, 0x1a, 0xb0, 0, 0, 1])), '01:02:1a:b0:00:00:01');
    assert.equal(formatClientIdHex(Buffer.from([0xff])), 'ff');
  });
});

describe('formatDnsmasqLeases', () => {
  it('lists only active bound leases, most recently bound first, one line each ending in a newline', () => {
    const leases = [
      lease({ ip: '10.0.0.100', mac: '02:00:00:00:00:01', updatedAt: NOW - 3000 }),
      lease({ ip: '10.0.0.101', mac: '02:00:00:00:00:02', updatedAt: NOW - 1000, hostname: 'newest' }),
      lease({ ip: '10.0.0.102', mac: '02:00:00:00:00:03', updatedAt: NOW - 2000 }),
      lease({ ip: '10.0.0.103', mac: '02:00:00:00:00:04', state: 'released', expiresAt: NOW - 10 }),
      lease({ ip: '10.0.0.104', mac: '02:00:00:00:00:05', state: 'expired', expiresAt: NOW - 10 }),
      lease({ ip: '10.0.0.105', mac: '', state: 'declined', expiresAt: NOW + 600_000 }),
      lease({ ip: '10.0.0.106', mac: '02:00:00:00:00:07', expiresAt: NOW }), // time is up, not yet expired by the table
    ];
    const exp = Math.floor((NOW + 3_600_000) / 1000);
    assert.equal(
      formatDnsmasqLeases(leases, NOW),
      `${exp} 02:00:00:00:00:02 10.0.0.101 newest *\n${exp} 02:00:00:00:00:03 10.0.0.102 * *\n${exp} 02:00:00:00:00:01 10.0.0.100 * *\n`,
    );
  });

  it('is empty without active leases', () => {
    assert.equal(formatDnsmasqLeases([], NOW), '');
    assert.equal(formatDnsmasqLeases([lease({ ip: '10.0.0.1', state: 'released' })], NOW), '');
  });

  it('keeps the input order for equal binding times', () => {
    const text = formatDnsmasqLeases([lease({ ip: '10.0.0.9', mac: '02:00:00:00:00:09' }), lease({ ip: '10.0.0.8', mac: '02:00:00:00:00:08' })], NOW);
    assert.deepEqual(
      text.split('\n').map((l) => l.split(' ')[2]),
      ['10.0.0.9', '10.0.0.8', undefined],
    );
  });
});

describe('parseDnsmasqLeases', () => {
  it('reads IPv4 lines and skips the duid line and the IPv6 lines after it', () => {
    const text = [
      '1795824543 02:1a:b0:00:00:03 10.0.0.156 * 01:02:1a:b0:00:00:03',
      '1795824543 02:1A:B0:00:00:02 10.0.0.155 beta ff:00:00:00:01',
      '0 02:1a:b0:00:00:01 10.0.0.154 alpha *',
      'duid 00:01:00:01:2c:9b:8a:3e:02:1a:b0:00:00:01',
      '1795824600 1234567 fd00::5 v6host 00:01:00:01:2c:9b:8a:3e',
      '',
    ].join('\n');
    const { records, errors } = parseDnsmasqLeases(text);
    assert.deepEqual(errors, []);
    assert.deepEqual(records, [
      { expiresAt: 1795824543_000, mac: '02:1a:b0:00:00:03', ip: parseIPv4('10.0.0.156'), hostname: null, clientId: Buffer.from('01021ab0000003', 'hex') },
      { expiresAt: 1795824543_000, mac: '02:1a:b0:00:00:02', ip: parseIPv4('10.0.0.155'), hostname: 'beta', clientId: Buffer.from('ff00000001', 'hex') },
      { expiresAt: null, mac: '02:1a:b0:00:00:01', ip: parseIPv4('10.0.0.154'), hostname: 'alpha', clientId: null },
    ]);
  });

  it('gives one error per bad line with its line number and keeps the good lines', () => {
    const text = [
      '1795824543 02:1a:b0:00:00:01 10.0.0.154 alpha *', // 1 ok
      '1795824543 02:1a:b0:00:00:01 10.0.0.154 alpha', // 2 four fields
      'soon 02:1a:b0:00:00:01 10.0.0.154 alpha *', // 3 expiry
      '1795824543 02:1a:b0:00:00 10.0.0.154 alpha *', // 4 short MAC
      '1795824543 02:1a:b0:00:00:01 10.0.0.300 alpha *', // 5 IP
      '1795824543 02:1a:b0:00:00:01 10.0.0.154 al/pha *', // 6 hostname
      '1795824543 02:1a:b0:00:00:01 10.0.0.154 alpha 0x01', // 7 client id
      '1795824543 20-00:01:02 10.0.0.154 alpha *', // 8 non-Ethernet hardware type
      '', // 9 empty: skipped
      '1795824543 02:1a:b0:00:00:05 10.0.0.158 ok 01:02\r', // 10 ok, CRLF tolerated
    ].join('\n');
    const { records, errors } = parseDnsmasqLeases(text);
    assert.deepEqual(
      errors.map((e) => e.line),
      [2, 3, 4, 5, 6, 7, 8],
    );
    assert.match(errors[0]?.message ?? '', /^line 2: expected 5 fields/);
    assert.match(errors[1]?.message ?? '', /^line 3: expiry "soon"/);
    assert.match(errors[2]?.message ?? '', /^line 4: "02:1a:b0:00:00" is not a MAC/);
    assert.match(errors[3]?.message ?? '', /^line 5: "10\.0\.0\.300" is not an IPv4 address/);
    assert.match(errors[4]?.message ?? '', /^line 6: hostname "al\/pha"/);
    assert.match(errors[5]?.message ?? '', /^line 7: client id "0x01"/);
    assert.match(errors[6]?.message ?? '', /^line 8: hardware address "20-00:01:02" is not Ethernet/);
    assert.deepEqual(
      records.map((r) => r.hostname),
      ['alpha', 'ok'],
    );
  });

  it('round-trips: parse then format gives the same text', () => {
    const text =
      '1795824543 02:1a:b0:00:00:03 10.0.0.156 * 01:02:1a:b0:00:00:03\n' +
      '1795824543 02:1a:b0:00:00:02 10.0.0.155 beta ff:00:00:00:01:00:01:00:01:2b:3c:4d:5e\n' +
      '1795824544 02:1a:b0:00:00:01 10.0.0.154 alpha *\n';
    const { records, errors } = parseDnsmasqLeases(text);
    assert.deepEqual(errors, []);
    const leases = records.map((r) => dnsmasqRecordToLease(r, 0));
    assert.equal(formatDnsmasqLeases(leases, 1795820000_000), text);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file with the new content and mode and leaves no temp file behind', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'dnsmasq.leases');
      writeFileSync(path, 'old\n');
      await writeFileAtomic(path, 'new\n', 0o640);
      assert.equal(readFileSync(path, 'utf8'), 'new\n');
      assert.equal(statSync(path).mode & 0o777, 0o640);
      assert.deepEqual(readdirSync(dir), ['dnsmasq.leases']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails without touching anything when the directory does not exist', async () => {
    const dir = tempDir();
    try {
      await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x.leases'), 'x'), /ENOENT/);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('DnsmasqLeaseFile', () => {
  it('coalesces many schedule() calls of one turn into one write', async () => {
    const dir = tempDir();
    try {
      const current = [lease({ ip: '10.0.0.100' })];
      let reads = 0;
      const file = new DnsmasqLeaseFile({
        path: join(dir, 'l'),
        now: () => NOW,
        leases: () => {
          reads++;
          return current;
        },
      });
      for (let i = 0; i < 50; i++) file.schedule();
      await waitUntil(() => file.writes >= 1);
      await new Promise((resolve) => setTimeout(resolve, 50)); // room for a (wrong) second write
      assert.equal(file.writes, 1);
      assert.equal(reads, 1);
      assert.equal(readFileSync(join(dir, 'l'), 'utf8'), formatDnsmasqLeases(current, NOW));
      await file.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes at most once per minIntervalMs and still writes the last state', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'l');
      const current: Lease[] = [];
      const writeTimes: number[] = [];
      const file = new DnsmasqLeaseFile({ path, now: () => NOW, leases: () => current, minIntervalMs: 100 });
      const started = Date.now();
      const poll = setInterval(() => {
        if (file.writes > writeTimes.length) writeTimes.push(Date.now() - started);
      }, 2);
      for (let i = 0; i < 25; i++) {
        current.push(lease({ ip: `10.0.0.${100 + i}`, mac: `02:00:00:00:00:${(i + 16).toString(16)}`, updatedAt: NOW + i }));
        file.schedule();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
      clearInterval(poll);
      const elapsed = Date.now() - started;
      // 25 changes spread over the time: a few writes, never two within 100 ms of each other
      assert.ok(file.writes >= 2 && file.writes <= Math.floor(elapsed / 100) + 1, `writes: ${file.writes} in ${elapsed} ms`);
      for (let i = 1; i < writeTimes.length; i++) {
        assert.ok((writeTimes[i] as number) - (writeTimes[i - 1] as number) >= 90, `write times ${writeTimes.join(',')}`);
      }
      assert.equal(readFileSync(path, 'utf8'), formatDnsmasqLeases(current, NOW));
      assert.equal(readFileSync(path, 'utf8').split('\n').length, 26);
      await file.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps a renewed binding in its place and puts new bindings on top, like dnsmasq', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'l');
      let current = [
        lease({ ip: '10.0.0.100', mac: '02:00:00:00:00:01', updatedAt: NOW - 2000 }),
        lease({ ip: '10.0.0.101', mac: '02:00:00:00:00:02', updatedAt: NOW - 1000 }),
      ];
      const file = new DnsmasqLeaseFile({ path, now: () => NOW, leases: () => current, minIntervalMs: 0 });
      await file.flush();
      const ips = (): string[] =>
        readFileSync(path, 'utf8')
          .trim()
          .split('\n')
          .map((l) => l.split(' ')[2] ?? '');
      assert.deepEqual(ips(), ['10.0.0.101', '10.0.0.100']);
      // 10.0.0.100 renews (newer updatedAt and expiry), a third client arrives
      current = [
        lease({ ip: '10.0.0.100', mac: '02:00:00:00:00:01', updatedAt: NOW, expiresAt: NOW + 7_200_000 }),
        current[1] as Lease,
        lease({ ip: '10.0.0.102', mac: '02:00:00:00:00:03', updatedAt: NOW - 500 }),
      ];
      await file.flush();
      assert.deepEqual(ips(), ['10.0.0.102', '10.0.0.101', '10.0.0.100']);
      assert.match(readFileSync(path, 'utf8'), new RegExp(`^${Math.floor((NOW + 7_200_000) / 1000)} 02:00:00:00:00:01 `, 'm'));
      // the first client releases and comes back: a new binding goes on top
      current = current.filter((l) => l.mac !== '02:00:00:00:00:01');
      await file.flush();
      current = [...current, lease({ ip: '10.0.0.100', mac: '02:00:00:00:00:01', updatedAt: NOW + 1 })];
      await file.flush();
      assert.deepEqual(ips(), ['10.0.0.100', '10.0.0.102', '10.0.0.101']);
      await file.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('close() writes what is pending and later schedule() calls write nothing', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'l');
      const current = [lease({ ip: '10.0.0.100' })];
      const file = new DnsmasqLeaseFile({ path, now: () => NOW, leases: () => current, minIntervalMs: 10_000 });
      await file.flush();
      current.push(lease({ ip: '10.0.0.101', mac: '02:00:00:00:00:02' }));
      file.schedule(); // would wait 10 s
      await file.close();
      assert.equal(file.writes, 2);
      assert.equal(readFileSync(path, 'utf8').split('\n').length, 3);
      file.schedule();
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(file.writes, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failed write and succeeds on a later one', async () => {
    const dir = tempDir();
    try {
      const errors: Error[] = [];
      const file = new DnsmasqLeaseFile({
        path: join(dir, 'sub', 'l'),
        leases: () => [],
        minIntervalMs: 0,
        onError: (e) => errors.push(e),
      });
      file.schedule();
      await waitUntil(() => errors.length > 0);
      assert.equal(errors.length, 1);
      assert.match(errors[0]?.message ?? '', /ENOENT/);
      assert.equal(file.writes, 0);
      mkdirSync(join(dir, 'sub'));
      file.schedule();
      await waitUntil(() => file.writes > 0);
      assert.equal(file.writes, 1);
      assert.equal(readFileSync(join(dir, 'sub', 'l'), 'utf8'), '');
      await file.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- The IPv6 part (dnsmasq's lease_update_file with DHCPv6 on) ----

const SERVER_DUID = Buffer.from('000100012c9b8a3e021ab0000001', 'hex');

function lease6(overrides: Partial<StoredLease6> & { ip: string }): StoredLease6 {
  return {
    mac: '02:1a:b0:00:00:01',
    iaid: 1234567,
    duidHex: '000100012c9b8a3e021ab0000005',
    hostname: 'v6host',
    state: 'bound',
    expiresAt: NOW + 3_600_000,
    updatedAt: NOW,
    ...overrides,
  };
}

describe('the IPv6 part of the lease file', () => {
  it('writes EXPIRY IAID ADDRESS HOSTNAME CLIENT-DUID, the DUID as colon hex, * for what is missing', () => {
    assert.equal(
      formatDnsmasqLease6Line(lease6({ ip: 'fd00::5', expiresAt: 1795824600_999 })),
      '1795824600 1234567 fd00::5 v6host 00:01:00:01:2c:9b:8a:3e:02:1a:b0:00:00:05',
    );
    assert.equal(
      formatDnsmasqLease6Line(lease6({ ip: 'fd00::6', iaid: 0xffffffff, hostname: 'two words', duidHex: '' })),
      `${(NOW + 3_600_000) / 1000} 4294967295 fd00::6 * *`,
    );
  });

  it('puts the duid line and the active IPv6 leases (newest first) after every IPv4 line', () => {
    const text = formatDnsmasqLeases([lease({ ip: '10.0.0.5' })], NOW, {
      serverDuid: SERVER_DUID,
      leases6: [
        lease6({ ip: 'fd00::5', updatedAt: NOW - 10 }),
        lease6({ ip: 'fd00::6', mac: '02:1a:b0:00:00:02', updatedAt: NOW }),
        lease6({ ip: 'fd00::7', state: 'declined', mac: '' }),
        lease6({ ip: 'fd00::8', expiresAt: NOW }),
      ],
    });
    const lines = text.split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(0, 3).join(' ')),
      [
        `${(NOW + 3_600_000) / 1000} 02:1a:b0:00:00:01 10.0.0.5`,
        'duid 00:01:00:01:2c:9b:8a:3e:02:1a:b0:00:00:01',
        `${(NOW + 3_600_000) / 1000} 1234567 fd00::6`,
        `${(NOW + 3_600_000) / 1000} 1234567 fd00::5`,
        '',
      ],
    );
    // What we write, dnsmasq-format readers (and our own import) read back: the IPv4 records, the IPv6 part skipped.
    const parsed = parseDnsmasqLeases(text);
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(
      parsed.records.map((r) => r.ip),
      [parseIPv4('10.0.0.5')],
    );
  });

  it('writes the duid line with DHCPv6 on and no IPv6 lease yet, and nothing of it with DHCPv6 off', () => {
    assert.equal(formatDnsmasqLeases([], NOW, { serverDuid: SERVER_DUID, leases6: [] }), 'duid 00:01:00:01:2c:9b:8a:3e:02:1a:b0:00:00:01\n');
    const v4 = [lease({ ip: '10.0.0.5' })];
    assert.equal(formatDnsmasqLeases(v4, NOW, { serverDuid: null, leases6: [lease6({ ip: 'fd00::5' })] }), formatDnsmasqLeases(v4, NOW));
  });

  it('DnsmasqLeaseFile keeps a renewed IPv6 binding in its place and puts a new one on top', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'l');
      let current6 = [lease6({ ip: 'fd00::5', updatedAt: NOW - 2000 }), lease6({ ip: 'fd00::6', mac: '02:1a:b0:00:00:02', updatedAt: NOW - 1000 })];
      const file = new DnsmasqLeaseFile({ path, now: () => NOW, leases: () => [], leases6: () => current6, serverDuid: SERVER_DUID, minIntervalMs: 0 });
      await file.flush();
      const addresses = (): string[] =>
        readFileSync(path, 'utf8')
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => l.split(' ')[2] ?? '');
      assert.deepEqual(addresses(), ['fd00::6', 'fd00::5']);
      current6 = [
        lease6({ ip: 'fd00::5', updatedAt: NOW, expiresAt: NOW + 7_200_000 }),
        current6[1] as StoredLease6,
        lease6({ ip: 'fd00::7', mac: '02:1a:b0:00:00:03', updatedAt: NOW - 500 }),
      ];
      await file.flush();
      assert.deepEqual(addresses(), ['fd00::7', 'fd00::6', 'fd00::5']);
      assert.match(readFileSync(path, 'utf8'), /^duid 00:01:00:01:2c:9b:8a:3e:02:1a:b0:00:00:01$/m);
      await file.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
