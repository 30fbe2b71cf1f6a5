#!/usr/bin/env -S node --max-semi-space-size=1
// --max-semi-space-size=1 (MB): V8's young generation stays at 2 x 1 MB instead of growing to 2 x 8 MB after start-up;
// an idle daemon keeps ~3 MB less RSS, and bench/dhcp-cpu.ts showed no cost per exchange (docs/performance.md, "Memory:
// where every megabyte goes"). Heap sizes are fixed when V8 starts, so the flag must be on node's command line: it
// applies when this file runs as a command (the installed lxc-dhcpd, the systemd units), not under `node bin/lxc-dhcpd.js`.
// Runs the compiled JavaScript in dist/ (built by `npm install` through the prepare script) when it is at least as
// new as every source file; otherwise the TypeScript sources through tsx, so the command never runs stale code.
// dist/ saves tsx's start-up and memory: it matters for "start to first OFFER" with many leases.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function compiledIsFresh() {
  try {
    return statSync(join(root, 'dist', 'cli.js')).mtimeMs >= newestMtime(join(root, 'src'));
  } catch {
    return false;
  }
}

if (compiledIsFresh()) {
  await import('../dist/cli.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
