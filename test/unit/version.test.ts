/** `lxc-dhcpd --version`: package.json's version, from src/version.ts (yargs) and from the command's own fast path. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { VERSION } from '../../src/version.ts';

const REPO = join(import.meta.dirname, '..', '..');
const MANIFEST_VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

function versionOutput(args: readonly string[]): string {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'lxc-dhcpd.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('VERSION is the version package.json gives', () => {
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  assert.equal(VERSION, MANIFEST_VERSION);
});

test('lxc-dhcpd --version prints it and nothing else, alone and among other flags (through yargs)', () => {
  assert.equal(versionOutput(['--version']), `${MANIFEST_VERSION}\n`);
  assert.equal(versionOutput(['--log-level', 'warn', '--version']), `${MANIFEST_VERSION}\n`);
});
