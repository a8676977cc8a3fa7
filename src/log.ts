/**
 * JSON-lines logging. Callers pass structured fields; there is deliberately no way to log a URL
 * with its query string or a header map, so a token cannot reach a log line.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/**
 * A logger that writes one JSON line per event at `level` or above. `write` defaults to
 * console.log; the Node adapter supplies a batched stdout writer (runtime/node/stdout-lines.ts).
 */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => console.log(line)): Logger {
  const min = ORDER[level];
  // One line per connection open/close at info: the timestamp is formatted once per millisecond
  // and the fixed head is written as text (half the cost of stringifying a merged object).
  let lastMs = -1;
  let lastIso = '';
  const emit = (lvl: LogLevel, event: string, fields?: LogFields) => {
    if (ORDER[lvl] < min) return;
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastIso = new Date(now).toISOString();
    }
    if (fields && ('time' in fields || 'level' in fields || 'event' in fields)) {
      write(JSON.stringify({ time: lastIso, level: lvl, event, ...fields }));
      return;
    }
    const rest = fields ? JSON.stringify(fields) : '{}';
    write(`{"time":"${lastIso}","level":"${lvl}","event":${JSON.stringify(event)}${rest.length > 2 ? `,${rest.slice(1)}` : '}'}`);
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}
