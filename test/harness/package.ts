// Packs this checkout with `npm pack` (which builds dist/ through the prepare script) and installs the tarball the way
// the README tells a user to, `npm install -g` into a temporary prefix with the addon built by node-gyp, so tests and
// the bench can run the command a user gets instead of the checkout. Used by test/integration/package.test.ts, the
// bench (`npm run bench -- --installed`) and the systemd test.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..', '..');

/** `npm pack` runs tsc (prepare): tens of seconds on a loaded two-core machine. */
const PACK_TIMEOUT_MS = 300_000;
/** Installing compiles the addon; without a prebuilt better-sqlite3 it compiles SQLite too (6 min measured under load). */
const INSTALL_TIMEOUT_MS = 900_000;

/**
 * Packages whose install scripts the package needs (the addons: better-sqlite3's prebuild-install or compile, netlink's
 * node-gyp-build); the package itself (its node-gyp build) is named by its tarball path. The README's install command
 * passes the same list.
 */
export const NEEDED_INSTALL_SCRIPTS = ['better-sqlite3', 'netlink'] as const;

export interface PackedFile {
  path: string;
  size: number;
}

export interface InstalledPackage {
  /** The temporary `--prefix` of the global install. */
  prefix: string;
  /** PREFIX/bin/lxc-dhcpd, the symlink npm made (run it directly: its shebang finds `node` on PATH). */
  bin: string;
  /** The JavaScript file behind `bin`, for `node [flags] SCRIPT` (the bench's --cpu-prof). */
  script: string;
  /** PREFIX/lib/node_modules/lxc-dhcpd. */
  packageDir: string;
  tarball: string;
  /** What `npm pack --json` said of the tarball. */
  packed: { files: PackedFile[]; size: number; unpackedSize: number };
  /** Everything `npm install -g` printed (its warnings go to stderr). */
  installOutput: string;
  installMs: number;
  /** Removes the tarball and the prefix. */
  cleanup(): void;
}

export interface PackAndInstallOptions {
  /**
   * Default true: let better-sqlite3's prebuild-install find a prebuilt binary made from this checkout's compiled one (same
   * version), as it would download one on a machine that reaches GitHub; this one cannot, and compiling SQLite takes
   * minutes. Its install script still runs. false: compile it as this machine really must.
   */
  localSqlitePrebuild?: boolean;
}

function runNpm(args: readonly string[], cwd: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  // npm_* variables of an outer `npm test` (npm_config_prefix, ...) must not steer this install
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
  return new Promise((resolvePromise, reject) => {
    execFile('npm', args, { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`npm ${args.join(' ')}: ${error.message}\n${stdout}\n${stderr}`));
      else resolvePromise({ stdout, stderr });
    });
  });
}

/** `npm pack --json` prints the prepare script's banner first: the JSON is from the line starting with "[" on. */
function parsePackJson(stdout: string): { filename: string; files: PackedFile[]; size: number; unpackedSize: number } {
  const start = stdout.search(/^\[/m);
  const parsed: unknown = JSON.parse(start < 0 ? stdout : stdout.slice(start));
  const first = Array.isArray(parsed) ? (parsed[0] as { filename?: unknown } | undefined) : undefined;
  if (typeof first?.filename !== 'string') throw new Error(`npm pack --json printed no tarball: ${stdout}`);
  return first as { filename: string; files: PackedFile[]; size: number; unpackedSize: number };
}

/**
 * A prebuilt better-sqlite3 in prebuild-install's format (build/Release/better_sqlite3.node in a .tar.gz named after
 * version, ABI, platform and arch), from this checkout's compiled one, and a `.prebuild-installrc` in the prefix (read
 * by prebuild-install from its working directory upwards) pointing at it. glibc Linux only: other libcs compile.
 */
async function offerLocalSqlitePrebuild(dir: string, prefix: string): Promise<void> {
  const moduleDir = join(REPO, 'node_modules', 'better-sqlite3');
  const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  if (glibc === undefined || !existsSync(join(moduleDir, 'build', 'Release', 'better_sqlite3.node'))) return;
  const { version } = JSON.parse(readFileSync(join(moduleDir, 'package.json'), 'utf8')) as { version: string };
  const prebuilds = join(dir, 'prebuilds');
  mkdirSync(prebuilds);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await new Promise<void>((resolvePromise, reject) => {
    execFile('tar', ['-czf', join(prebuilds, name), '-C', moduleDir, 'build/Release/better_sqlite3.node'], (error) =>
      error ? reject(error) : resolvePromise(),
    );
  });
  writeFileSync(join(prefix, '.prebuild-installrc'), `local-prebuilds=${prebuilds}\n`);
}

/** Packs the checkout and installs the tarball globally into a fresh temporary prefix; call cleanup() when done. */
export async function packAndInstall(opts: PackAndInstallOptions = {}): Promise<InstalledPackage> {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-pkg-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const pack = await runNpm(['pack', '--json', '--pack-destination', dir], REPO, PACK_TIMEOUT_MS);
    const packed = parsePackJson(pack.stdout);
    const tarball = join(dir, packed.filename);
    const prefix = join(dir, 'prefix');
    mkdirSync(prefix);
    if (opts.localSqlitePrebuild !== false) await offerLocalSqlitePrebuild(dir, prefix);
    const allow = [...NEEDED_INSTALL_SCRIPTS, tarball].join(',');
    const started = Date.now();
    const install = await runNpm(
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', `--allow-scripts=${allow}`, tarball],
      dir,
      INSTALL_TIMEOUT_MS,
    );
    const installMs = Date.now() - started;
    const packageDir = join(prefix, 'lib', 'node_modules', 'lxc-dhcpd');
    const bin = join(prefix, 'bin', 'lxc-dhcpd');
    return {
      prefix,
      bin,
      script: realpathSync(bin),
      packageDir,
      tarball,
      packed: { files: packed.files, size: packed.size, unpackedSize: packed.unpackedSize },
      installOutput: `${install.stdout}${install.stderr}`,
      installMs,
      cleanup,
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}
