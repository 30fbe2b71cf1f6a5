// The yargs-free serve parser (src/serve-flags.ts) against yargs itself, built as src/cli.ts builds its serve command:
// every flag of the table must come out the same, and every command line it cannot read plainly must go to yargs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import yargs from 'yargs';
import { parseServeArgs, readConfigFile, SERVE_FLAGS } from '../../src/serve-flags.ts';

const dir = mkdtempSync(join(tmpdir(), 'serve-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(text: string): string {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(path, text);
  return path;
}

function viaYargs(args: string[], below: Record<string, unknown>): Record<string, unknown> {
  const argv = yargs(args)
    .options(SERVE_FLAGS)
    .option('config', { type: 'string' })
    .config('config', (path: string) => readConfigFile(path))
    .config(below)
    .strict()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseSync() as Record<string, unknown>;
  return Object.fromEntries(Object.keys(SERVE_FLAGS).map((k) => [k, argv[k]]));
}

function viaParser(args: string[], below: Record<string, unknown>): Record<string, unknown> | null {
  const argv = parseServeArgs(args, below) as Record<string, unknown> | null;
  return argv === null ? null : Object.fromEntries(Object.keys(SERVE_FLAGS).map((k) => [k, argv[k]]));
}

const LXC_NET_BELOW = {
  bridge: 'lxcbr0',
  'bridge-mac': '00:16:3e:00:00:00',
  address: '10.0.3.1/24',
  range: '10.0.3.2-10.0.3.254',
  domain: 'lxc',
  'bare-names': true,
  probe: true,
  ipv6: 'none',
};

describe('parseServeArgs reads a plain serve command line as yargs does', () => {
  const cases: [string, string[], Record<string, unknown>][] = [
    ['the two required flags', ['--bridge', 'br0', '--range', '10.0.0.100-200'], {}],
    [
      'every kind of flag',
      ['--bridge=br0', '--range', '10.0.0.100-200', '--lease-time', '600', '--no-probe', '--host', 'a', '--host', 'b', '--log-level', 'debug'],
      {},
    ],
    [
      'an empty value, a port, booleans on and off',
      ['--bridge', 'br0', '--range', 'x', '--control-socket', '', '--dns-port=5353', '--resolved', '--no-nat6'],
      {},
    ],
    ['--lxc-net without a value, its settings below the command line', ['--lxc-net', '--range', '10.0.3.100-200', '--no-bare-names'], LXC_NET_BELOW],
  ];
  for (const [name, args, below] of cases) {
    it(name, () => {
      const parsed = viaParser(args, below);
      assert.notEqual(parsed, null);
      assert.deepEqual(parsed, viaYargs(args, below));
    });
  }

  it('--config FILE: the command line over the file over --lxc-net settings over defaults', () => {
    const file = configFile('range = 10.0.9.100-200\nlease-time = 900\nhost = m1,10.0.9.5\nhost = m2,10.0.9.6\nno-nat\nprobe = false\nresolved\n');
    const args = ['--config', file, '--lease-time', '1200'];
    const parsed = viaParser(args, LXC_NET_BELOW);
    assert.notEqual(parsed, null);
    assert.deepEqual(parsed, viaYargs(args, LXC_NET_BELOW));
    assert.equal(parsed?.range, '10.0.9.100-200');
    assert.equal(parsed?.['lease-time'], 1200);
  });
});

describe('parseServeArgs leaves to yargs what is not plainly serve', () => {
  const cases: [string, string[]][] = [
    ['--help', ['--help']],
    ['a subcommand', ['leases', '--bridge', 'br0']],
    ['a missing required flag', ['--bridge', 'br0']],
    ['an array flag with two values after it', ['--bridge', 'br0', '--range', 'x', '--host', 'a', 'b']],
    ['a single-valued flag given twice', ['--bridge', 'a', '--bridge', 'b', '--range', 'x']],
    ['a camelCase spelling', ['--bridge', 'br0', '--range', 'x', '--leaseTime', '60']],
    ['a number yargs reads as NaN', ['--bridge', 'br0', '--range', 'x', '--lease-time', 'abc']],
    ['a value outside the choices', ['--bridge', 'br0', '--range', 'x', '--log-level', 'loud']],
    ['a flag and its negation', ['--bridge', 'br0', '--range', 'x', '--probe', '--no-probe']],
    ['an unknown flag', ['--bridge', 'br0', '--range', 'x', '--frobnicate']],
    ['a config file that does not exist', ['--config', join(dir, 'absent.conf')]],
  ];
  for (const [name, args] of cases) {
    it(name, () => assert.equal(parseServeArgs(args, {}), null));
  }
});
