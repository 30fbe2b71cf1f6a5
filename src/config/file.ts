/**
 * Config files with the same keys as the flags, so a systemd unit needs no long command line:
 *
 *   # /etc/lxc-dhcpd/br0.conf
 *   bridge = br0
 *   range = 10.0.0.100-200
 *   host = 02:1a:b0:00:00:05,10.0.0.5,web
 *   host = 02:1a:b0:00:00:06,10.0.0.6
 *   no-nat
 *
 * `key = value` or `key value`; a bare `key` means true and `no-key` false; repeated keys collect into a list;
 * `#` starts a comment. Errors name the file and line.
 */
import type { Checked } from '../result.ts';

type ConfigValue = string | boolean | string[];

const KEY = /^[a-z][a-z0-9-]*$/;

export function parseConfigFile(
  text: string,
  source: string,
  repeatable: ReadonlySet<string>,
  known: ReadonlySet<string>,
): Checked<Record<string, ConfigValue>> {
  const out: Record<string, ConfigValue> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const m = /^([^\s=]+)\s*(?:=\s*|\s+)?(.*)$/.exec(line);
    const where = `${source}:${i + 1}`;
    if (!m) return { ok: false, error: `${where}: cannot read ${JSON.stringify(line)}: write key = value` };
    let key = m[1] as string;
    const value = (m[2] as string).trim();
    if (!KEY.test(key)) return { ok: false, error: `${where}: ${JSON.stringify(key)} is not an option name` };
    let parsed: string | boolean = value === '' ? true : value;
    if (value === '' && key.startsWith('no-') && known.has(key.slice(3))) {
      key = key.slice(3);
      parsed = false;
    }
    if (!known.has(key)) return { ok: false, error: `${where}: unknown option ${JSON.stringify(key)} (see lxc-dhcpd --help)` };
    if (repeatable.has(key)) {
      if (typeof parsed !== 'string') return { ok: false, error: `${where}: ${key} needs a value` };
      const list = out[key];
      out[key] = Array.isArray(list) ? [...list, parsed] : [parsed];
    } else {
      if (key in out) return { ok: false, error: `${where}: ${key} is given twice` };
      out[key] = parsed === 'true' ? true : parsed === 'false' ? false : parsed;
    }
  }
  return { ok: true, value: out };
}
