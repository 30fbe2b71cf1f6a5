/**
 * The version of lxc-dhcpd, read from package.json (one directory above both src/ and the compiled dist/), for
 * `lxc-dhcpd --version`: the package's own manifest is the one place the version is written.
 */
import { readFileSync } from 'node:fs';

function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const version = typeof manifest === 'object' && manifest !== null && 'version' in manifest ? manifest.version : undefined;
  return typeof version === 'string' ? version : 'unknown';
}

export const VERSION = packageVersion();
