/**
 * The npm package as a user gets it: `npm pack` of this checkout, `npm install -g` of the tarball into a temporary
 * prefix (the addon built by node-gyp), then the installed `lxc-dhcpd` answers --version and --help and serves a real
 * udhcpc a lease inside a test namespace; the tarball and the installed tree hold the runtime and no tests or bench.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { udhcpc } from '../harness/clients.ts';
import { createTopology, run, type Topology } from '../harness/netns.ts';
import { type InstalledPackage, packAndInstall } from '../harness/package.ts';

const REPO = join(import.meta.dirname, '..', '..');
const MANIFEST = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
/** The installed command finds `node` through its shebang, as in a user's shell. */
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };

let pkg: InstalledPackage;
let topology: Topology | undefined;

before(async () => {
  pkg = await packAndInstall();
  process.stderr.write(`package.test: tarball ${pkg.packed.files.length} files, ${pkg.packed.size} bytes; install ${pkg.installMs} ms\n`);
});

after(async () => {
  await topology?.destroy();
  pkg?.cleanup();
});

/** What a package may hold: the compiled daemon, the command, the addon's sources and build file, docs, units, license. */
const SHIPPED =
  /^(dist\/.+\.js|bin\/lxc-dhcpd\.js|binding\.gyp|src\/wire\/addon\/[\w-]+\.[ch]|docs\/[\w-]+\.md|contrib\/[\w@.-]+\.service|LICENSE|README\.md|package\.json)$/;

test('the tarball holds dist/, the command, the addon sources, docs and contrib, and nothing of tests, bench or TypeScript sources', () => {
  const paths = pkg.packed.files.map((f) => f.path);
  for (const path of paths) assert.match(path, SHIPPED, `${path} should not be in the package`);
  for (const needed of [
    'dist/cli.js',
    'dist/daemon.js',
    'bin/lxc-dhcpd.js',
    'binding.gyp',
    'src/wire/addon/packet_socket.c',
    'src/wire/addon/udp_socket.c',
    'src/wire/addon/addon_common.h',
    'LICENSE',
    'README.md',
    'contrib/lxc-dhcpd@.service',
  ]) {
    assert.ok(paths.includes(needed), `${needed} missing from the package`);
  }
});

function walk(dir: string, skip: ReadonlySet<string>): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (skip.has(entry.name)) return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path, skip).map((p) => `${entry.name}/${p}`) : [entry.name];
  });
}

test('the installed tree has dist/ and the built addons, no tests, bench, TypeScript sources or tsx', () => {
  const files = walk(pkg.packageDir, new Set(['node_modules', 'build']));
  assert.deepEqual(
    files.filter((f) => /^(test|bench|packets)\//.test(f) || f.endsWith('.ts')),
    [],
  );
  assert.ok(existsSync(join(pkg.packageDir, 'dist', 'cli.js')));
  for (const addon of ['packet_socket', 'udp_socket'])
    assert.ok(existsSync(join(pkg.packageDir, 'build', 'Release', `${addon}.node`)), `${addon}.node built at install`);
  assert.equal(existsSync(join(pkg.packageDir, 'node_modules', 'tsx')), false, 'tsx is a devDependency: not installed with the package');
});

/** The `npm warn` lines of the install, the install-scripts notice's package lines apart. */
function installWarnings(output: string): { others: string[]; unreviewedScripts: string[] } {
  const lines = output.split('\n').filter((l) => l.startsWith('npm warn'));
  const scriptLines = lines.filter((l) => l.startsWith('npm warn install-scripts'));
  return {
    others: lines.filter((l) => !l.startsWith('npm warn install-scripts')),
    unreviewedScripts: scriptLines.flatMap((l) => /^npm warn install-scripts {3}(\S+)@/.exec(l)?.[1] ?? []),
  };
}

test('npm install -g with the README command warns of nothing but what the project cannot avoid', () => {
  const { others, unreviewedScripts } = installWarnings(pkg.installOutput);
  assert.deepEqual(others, [], pkg.installOutput);
  // etcd3 → @grpc/proto-loader → protobufjs has a postinstall (a version notice) that a global install would list: it
  // ignores the package's allowScripts (npm reads them from the project root only). etcd3 is an optional peer, so
  // nothing is left, unless it is made a dependency again.
  const expected = 'etcd3' in MANIFEST.dependencies ? ['protobufjs'] : [];
  assert.deepEqual(unreviewedScripts, expected, pkg.installOutput);
});

test('the installed lxc-dhcpd answers --version with the package version, and --help', async () => {
  const version = await run([pkg.bin, '--version'], { env: ENV, check: true });
  assert.equal(version.stdout, `${MANIFEST.version}\n`);
  // through yargs too (--version with another flag is not the command's fast path)
  const viaYargs = await run([pkg.bin, '--log-level', 'warn', '--version'], { env: ENV, check: true });
  assert.equal(viaYargs.stdout.trim(), MANIFEST.version);
  const help = await run([pkg.bin, '--help'], { env: ENV, check: true, timeoutMs: 30_000 });
  assert.match(help.stdout, /--bridge/);
  assert.match(help.stdout, /--version/);
});

test('the installed lxc-dhcpd serves a real udhcpc a lease inside a namespace', async () => {
  topology = await createTopology({ containers: 1 });
  const argv = [pkg.bin, '--bridge', topology.bridge, '--range', '10.0.0.100-200', '--no-probe', '--log-level', 'info'];
  argv.push('--lease-db', join(topology.tmpDir, 'leases.db'), '--control-socket', join(topology.tmpDir, 'control.sock'));
  const daemon = topology.spawn(topology.hostNs, argv, { env: ENV });
  await daemon.waitForOutput(/serving DHCP on/, { stream: 'stderr', timeoutMs: 30_000 });
  const [container] = topology.containers;
  assert.ok(container);
  const client = await udhcpc(container, { hostname: 'pkg-ct' });
  assert.match(client.lease.ip, /^10\.0\.0\.(1\d\d|200)$/);
  assert.equal(client.lease.router, '10.0.0.1');
  await client.stop();
  const status = await daemon.stop({ signal: 'SIGTERM', graceMs: 5000 });
  assert.equal(status.code, 0, daemon.stderr);
});
