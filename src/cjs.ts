/**
 * Loads the CommonJS packages the daemon uses (better-sqlite3, dns-packet, netlink, prom-client) through `require`.
 * An ESM `import` of a CommonJS package makes Node start its CommonJS export lexer, a WebAssembly module that stays
 * in memory: about 9 MB of RSS, more than the packages themselves (measured: docs/performance.md, "Memory: where every
 * megabyte goes"). Types still come from `import type`; only the loading goes through here.
 */
import { createRequire } from 'node:module';

export const requireCjs: NodeJS.Require = createRequire(import.meta.url);
