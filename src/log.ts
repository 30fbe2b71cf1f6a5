/**
 * Logging to stderr with levels. Every value that came from the network goes through `quote` (JSON string escaping),
 * so a hostname can never forge a log line or inject terminal escapes.
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

export function quote(value: string | null | undefined): string {
  return value === null || value === undefined ? '-' : JSON.stringify(value);
}

/** journald reads a `<N>` syslog priority at the start of each line of a service's stderr (sd-daemon(3)). */
const JOURNALD_PRIORITY: Record<LogLevel, string> = { error: '<3>', warn: '<4>', info: '<6>', debug: '<7>' };

export type LogStyle = 'plain' | 'journald';

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  style: LogStyle = 'plain',
): Logger {
  const emit = (l: LogLevel, m: string): void => {
    if (LEVELS[l] > LEVELS[logger.level]) return;
    write(style === 'journald' ? `${JOURNALD_PRIORITY[l]}${m}` : `${l}: ${m}`);
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
