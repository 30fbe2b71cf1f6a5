/**
 * Reads the shell variable assignments of an `/etc/default` file (`NAME=value`, `NAME="value"`, `NAME='value'`,
 * `export NAME=value`, `#` comments) without ever running a shell: the files lxc-net sources are root's, but we are
 * a long-running root daemon and parse, never execute. Only what such files hold is taken — quoting, backslash
 * escapes, and `$NAME`/`${NAME}` of a variable already set; anything else a shell would do (command substitution,
 * `${X:-y}`, `;`, `|`, `if`, a line continuation) is one error naming the file and line. The one other line read is
 * `[ ! -f FILE ] || . FILE` (and its `[ -f FILE ] && . FILE`, `. FILE` forms), which the caller resolves.
 */
import { type Checked, fail, ok } from '../result.ts';

/** The size of a file we read: Debian's /etc/default/lxc is 0.9 KiB, lxc-net's own list of variables 0.6 KiB. */
export const MAX_SHELL_FILE_BYTES = 64 * 1024;
/** A line longer than this is no hand-written assignment (the longest default, LXC_DHCP_RANGE, is 29 characters). */
export const MAX_SHELL_LINE_LENGTH = 4096;

type ShellLine =
  | { kind: 'assign'; line: number; name: string; value: string }
  | { kind: 'source'; line: number; path: string }
  | { kind: 'blank'; line: number };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SOURCE_FORMS = [
  /^\[\s+!\s+-f\s+(\S+)\s+\]\s*\|\|\s*\.\s+(\S+)$/,
  /^\[\s+-[fer]\s+(\S+)\s+\]\s*&&\s*\.\s+(\S+)$/,
  /^test\s+-[fer]\s+(\S+)\s*&&\s*\.\s+(\S+)$/,
  /^(?:\.|source)\s+(\S+)$/,
];

/** The path a source line reads, or null; both paths of `[ -f A ] && . B` must be the same file. */
function sourcedPath(line: string): string | null {
  for (const form of SOURCE_FORMS) {
    const m = form.exec(line);
    if (m === null) continue;
    const paths = m.slice(1).map((p) => (p as string).replace(/^(["'])(.*)\1$/, '$2'));
    return paths.every((p) => p === paths[0]) ? (paths[0] as string) : null;
  }
  return null;
}

/** The value of a variable set above the line being read, or undefined. */
type Lookup = (name: string) => string | undefined;

interface Cursor {
  text: string;
  i: number;
}

/** `$NAME` or `${NAME}` at the cursor (on the `$`): the variable's value, or why it cannot be read. */
function expansion(c: Cursor, lookup: Lookup): Checked<string> {
  const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(c.text.slice(c.i));
  const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(c.text.slice(c.i));
  const m = braced ?? plain;
  if (m === null) {
    return fail(`${JSON.stringify(c.text.slice(c.i, c.i + 12))} is shell code (only $NAME and \${NAME} of a variable set above are read)`);
  }
  const value = lookup(m[1] as string);
  if (value === undefined) return fail(`$${m[1]} is not set above this line: write the value itself`);
  c.i += m[0].length;
  return ok(value);
}

function doubleQuoted(c: Cursor, lookup: Lookup): Checked<string> {
  let out = '';
  c.i++;
  while (c.i < c.text.length) {
    const ch = c.text[c.i] as string;
    if (ch === '"') {
      c.i++;
      return ok(out);
    }
    if (ch === '`') return fail('a backtick runs a command: write the value itself');
    if (ch === '$') {
      const v = expansion(c, lookup);
      if (!v.ok) return v;
      out += v.value;
      continue;
    }
    if (ch === '\\' && '$`"\\'.includes(c.text[c.i + 1] ?? '')) {
      out += c.text[c.i + 1];
      c.i += 2;
      continue;
    }
    out += ch;
    c.i++;
  }
  return fail('a double quote is not closed on this line (values spanning lines are not read)');
}

/** One unquoted/quoted word from the cursor up to unquoted whitespace or the end. */
function word(c: Cursor, lookup: Lookup): Checked<string> {
  let out = '';
  while (c.i < c.text.length) {
    const ch = c.text[c.i] as string;
    if (/\s/.test(ch)) break;
    if (ch === "'") {
      const end = c.text.indexOf("'", c.i + 1);
      if (end < 0) return fail('a single quote is not closed on this line (values spanning lines are not read)');
      out += c.text.slice(c.i + 1, end);
      c.i = end + 1;
    } else if (ch === '"') {
      const v = doubleQuoted(c, lookup);
      if (!v.ok) return v;
      out += v.value;
    } else if (ch === '$') {
      const v = expansion(c, lookup);
      if (!v.ok) return v;
      out += v.value;
    } else if (ch === '\\') {
      if (c.i + 1 >= c.text.length) return fail('a line continuation (\\ at the end) is not read: put the assignment on one line');
      out += c.text[c.i + 1];
      c.i += 2;
    } else if (';&|<>()`'.includes(ch)) {
      return fail(`${JSON.stringify(ch)} is shell syntax, not part of a value: quote the value or remove the command`);
    } else {
      out += ch;
      c.i++;
    }
  }
  return ok(out);
}

/** One line: an assignment, a source line, or nothing (blank or comment). `lookup` gives variables set above. */
export function parseShellLine(text: string, line: number, lookup: Lookup): Checked<ShellLine> {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return ok({ kind: 'blank', line });
  const path = sourcedPath(trimmed.replace(/\s+#.*$/, ''));
  if (path !== null) return ok({ kind: 'source', line, path });
  const c: Cursor = { text: trimmed.replace(/^export\s+/, ''), i: 0 };
  const eq = c.text.indexOf('=');
  const name = eq > 0 ? c.text.slice(0, eq) : '';
  if (!NAME.test(name)) return fail(`${JSON.stringify(trimmed.slice(0, 40))} is not a NAME=value assignment (only assignments are read, never run)`);
  c.i = eq + 1;
  const value = word(c, lookup);
  if (!value.ok) return value;
  const rest = c.text.slice(c.i).trim();
  if (rest !== '' && !rest.startsWith('#')) {
    return fail(`${JSON.stringify(rest.slice(0, 40))} after ${name}=... would run as a command: quote the value, one assignment per line`);
  }
  return ok({ kind: 'assign', line, name, value: value.value });
}

/** Why a file cannot be read line by line (too large, a NUL byte, an overlong line) as `FILE[:LINE]: ...`, or null. */
export function shellFileProblem(text: string, path: string): string | null {
  if (Buffer.byteLength(text) > MAX_SHELL_FILE_BYTES) return `${path}: larger than ${MAX_SHELL_FILE_BYTES} bytes: this is not an /etc/default file`;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.includes('\0')) return `${path}:${i + 1}: contains a NUL byte: this is not a text file`;
    if (line.length > MAX_SHELL_LINE_LENGTH) return `${path}:${i + 1}: longer than ${MAX_SHELL_LINE_LENGTH} characters`;
  }
  return null;
}
