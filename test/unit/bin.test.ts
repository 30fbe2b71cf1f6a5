/**
 * bin/lxc-dhcpd.js chooses what to run: dist/ in an installed package (no TypeScript sources), and in a checkout dist/
 * when fresh or the sources through tsx; without either it says what to do instead of a module-not-found trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lxc-dhcpd.js');
const scratch = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-bin-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A package tree outside the checkout (so no tsx can be found from it) holding the command and `files`. */
function packageTree(name: string, files: Record<string, string>): string {
  const root = join(scratch, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(BIN, join(root, 'bin', 'lxc-dhcpd.js'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'lxc-dhcpd', version: '9.8.7', type: 'module' }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function runBin(root: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'lxc-dhcpd.js'), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('an installed package (no src/*.ts) runs dist/cli.js', () => {
  const root = packageTree('installed', { 'dist/cli.js': "process.stdout.write('dist ran\\n');\n", 'src/wire/addon/x.c': '' });
  const r = runBin(root, ['--help']);
  assert.equal(r.stdout, 'dist ran\n', r.stderr);
});

test('an installed package without dist/ says to reinstall', () => {
  const r = runBin(packageTree('broken', {}), ['--help']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /dist\/cli\.js is missing: reinstall the package/);
});

test('a checkout whose dist/ is missing and which has no tsx says how to build', () => {
  const r = runBin(packageTree('checkout', { 'src/cli.ts': 'export {};\n' }), ['--help']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tsx \(a devDependency\) is not installed: run `npm run build`/);
});

test('--version alone is answered from package.json without loading dist/', () => {
  const root = packageTree('version', { 'dist/cli.js': "throw new Error('loaded');\n" });
  assert.equal(runBin(root, ['--version']).stdout, '9.8.7\n');
});
