/**
 * JSON-lines logging. Callers pass structured fields; there is deliberately no way to log a URL
 * with its query string or a header map, so a token cannot reach a log line (B10).
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

interface NodeProcessLike {
  versions?: { node?: string };
  stdout?: { write(chunk: string): unknown };
  on?(event: 'exit', fn: () => void): unknown;
}

let stdoutLines: ((line: string) => void) | undefined;

/**
 * On Node, stdout gets the lines of one event-loop turn in one write, instead of one
 * `console.log` (one write(2), waking the reader) per line: with `open` and `close` logged at
 * `info`, that was ~120 µs of CPU per handshake under load. Lines keep their order and are
 * flushed after the current turn, and on `exit`. Other runtimes keep console.log.
 */
function defaultWrite(): (line: string) => void {
  const proc = (globalThis as { process?: NodeProcessLike }).process;
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;
  // Bun, Deno and workerd have a `process` too; Node 20 has no navigator, Node 21+ says "Node.js/".
  const isNode = proc?.versions?.node !== undefined && (ua === undefined || ua.startsWith('Node.js/'));
  const out = proc?.stdout;
  if (!isNode || !out || typeof proc.on !== 'function' || typeof setImmediate !== 'function') return (l) => console.log(l);
  if (stdoutLines) return stdoutLines;
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const chunk = pending.join('\n') + '\n';
    pending = [];
    out.write(chunk);
  };
  proc.on('exit', flush);
  stdoutLines = (line) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
  return stdoutLines;
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = defaultWrite()): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, event: string, fields?: LogFields) => {
    if (ORDER[lvl] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, event, ...fields }));
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}
