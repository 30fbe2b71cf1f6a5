/**
 * Logging to stderr with levels. Every value that came from the network goes through `quote` (JSON string escaping,
 * plus the characters JSON leaves raw), so a hostname can never forge a log line or inject terminal escapes; and the
 * logger itself escapes whatever line breaks and control characters still reach it (a value someone forgot to quote,
 * an error message quoting hostile bytes), so each call is exactly one line and journald never reads a priority that
 * a client wrote.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  level: LogLevel;
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  enabled(level: LogLevel): boolean;
}

/**
 * What JSON.stringify leaves raw but a reader of the log must not get raw: DEL and the C1 controls (U+0080-U+009F:
 * CSI U+009B starts a terminal escape on terminals that read 8-bit controls, NEL U+0085 is a line break to some
 * readers), U+2028/U+2029 (line and paragraph separators), and the invisible format characters that hide or reorder
 * text (soft hyphen, zero-width characters, bidirectional overrides and isolates as in "Trojan Source", BOM).
 */
const INVISIBLE_RANGES = '\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb';
const INVISIBLE = new RegExp(`[${INVISIBLE_RANGES}]`, 'g');

function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A value for a log line: JSON string escaping, and the invisible characters above as \uXXXX escapes. */
export function quote(value: string | null | undefined): string {
  return value === null || value === undefined ? '-' : JSON.stringify(value).replace(INVISIBLE, unicodeEscape);
}

/** Everything that can break or hide a line: C0 controls (newline, CR, ESC...) and the characters of INVISIBLE. */
const UNSAFE_IN_LINE = new RegExp(`[\\u0000-\\u001f${INVISIBLE_RANGES}]`);
const UNSAFE_IN_LINE_ALL = new RegExp(UNSAFE_IN_LINE.source, 'g');
const C0_NAMES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * One log line out of any message: the last line of defence behind quote(). A line break inside a message would let
 * the next characters pass for a new entry (with journald, one starting with a forged `<0>` priority).
 */
export function oneLine(message: string): string {
  if (!UNSAFE_IN_LINE.test(message)) return message;
  return message.replace(UNSAFE_IN_LINE_ALL, (c) => C0_NAMES[c] ?? unicodeEscape(c));
}

/** journald reads a `<N>` syslog priority at the start of each line of a service's stderr (sd-daemon(3)). */
const JOURNALD_PRIORITY: Record<LogLevel, string> = { error: '<3>', warn: '<4>', info: '<6>', debug: '<7>' };

type LogStyle = 'plain' | 'journald';

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`), style: LogStyle = 'plain'): Logger {
  const emit = (l: LogLevel, m: string): void => {
    if (LEVELS[l] > LEVELS[logger.level]) return;
    const line = oneLine(m);
    write(style === 'journald' ? `${JOURNALD_PRIORITY[l]}${line}` : `${l}: ${line}`);
  };
  const logger: Logger = {
    level,
    enabled: (l) => LEVELS[l] <= LEVELS[logger.level],
    error: (m) => emit('error', m),
    warn: (m) => emit('warn', m),
    info: (m) => emit('info', m),
    debug: (m) => emit('debug', m),
  };
  return logger;
}

/** Counts events by reason and lets through at most `perInterval` log lines per reason each interval. */
export class RateLimitedCounter {
  readonly counts = new Map<string, number>();
  private readonly windowStart = new Map<string, { at: number; logged: number }>();

  constructor(
    private readonly perInterval = 5,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one occurrence; returns true when this one may be logged. */
  hit(reason: string): boolean {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    const t = this.now();
    const w = this.windowStart.get(reason);
    if (!w || t - w.at >= this.intervalMs) {
      this.windowStart.set(reason, { at: t, logged: 1 });
      return true;
    }
    w.logged += 1;
    return w.logged <= this.perInterval;
  }

  get(reason: string): number {
    return this.counts.get(reason) ?? 0;
  }
}
