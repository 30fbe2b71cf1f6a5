#!/usr/bin/env -S node --max-semi-space-size=1
// --max-semi-space-size=1 (MB): V8's young generation stays at 2 x 1 MB instead of growing to 2 x 8 MB after start-up;
// an idle daemon keeps ~3 MB less RSS, and bench/dhcp-cpu.ts showed no cost per exchange (docs/performance.md, "Memory:
// where every megabyte goes"). Heap sizes are fixed when V8 starts, so the flag must be on node's command line: it
// applies when this file runs as a command (the installed lxc-dhcpd, the systemd units), not under `node bin/lxc-dhcpd.js`.
// The lxc-dhcpd command. An installed package (npm pack / npm install -g) ships only the compiled JavaScript in dist/
// and runs it. A checkout runs dist/ (built by `npm install` through the prepare script, or `npm run build`) when it
// is at least as new as every TypeScript source, otherwise the sources through tsx (a devDependency), so it never runs
// stale code. dist/ saves tsx's start-up and memory: it matters for "start to first OFFER" with many leases.
// `--version` alone is answered here from package.json, without loading the daemon.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  process.stderr.write(`lxc-dhcpd: ${message}\n`);
  process.exit(1);
}

function newestSourceMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function compiledIsFresh() {
  try {
    return statSync(join(root, 'dist', 'cli.js')).mtimeMs >= newestSourceMtime(join(root, 'src'));
  } catch {
    return false;
  }
}

async function runSources() {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    fail('dist/ is missing or older than src/, and tsx (a devDependency) is not installed: run `npm run build`, or `npm install` in the checkout');
  }
  register();
  await import('../src/cli.ts');
}

if (process.argv.length === 3 && process.argv[2] === '--version') {
  process.stdout.write(`${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\n`);
} else if (!existsSync(join(root, 'src', 'cli.ts'))) {
  // the installed package: no TypeScript sources, dist/ is all there is
  if (!existsSync(join(root, 'dist', 'cli.js'))) fail(`${join(root, 'dist', 'cli.js')} is missing: reinstall the package`);
  await import('../dist/cli.js');
} else if (compiledIsFresh()) {
  await import('../dist/cli.js');
} else {
  await runSources();
}
