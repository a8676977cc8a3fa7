/**
 * The Node adapter's log writer: JSON lines on stdout, the lines of up to LOG_FLUSH_MS in one
 * write instead of one `console.log` (one write(2), waking the reader) per line. With `open` and
 * `close` logged at `info`, that was ~120 µs of CPU per handshake under load, ~25 µs when flushing
 * once per event-loop turn, ~4 µs now. Lines keep their order, and whatever is pending is written
 * on `exit`.
 */

/** Lines are written to stdout at most this long after they were logged. */
export const LOG_FLUSH_MS = 10;
/** ... or at once when this many characters are waiting. */
const LOG_FLUSH_CHARS = 64 * 1024;

let shared: ((line: string) => void) | undefined;

/** One writer per process, so that every logger's lines share one buffer and stay in order. */
export function stdoutLines(): (line: string) => void {
  if (shared) return shared;
  let pending: string[] = [];
  let chars = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const chunk = pending.join('\n') + '\n';
    pending = [];
    chars = 0;
    process.stdout.write(chunk);
  };
  process.on('exit', flush);
  shared = (line) => {
    pending.push(line);
    chars += line.length;
    if (chars >= LOG_FLUSH_CHARS) flush();
    // unref: a pending flush never keeps the process alive (exit writes it).
    else if (timer === undefined) timer = setTimeout(flush, LOG_FLUSH_MS).unref();
  };
  return shared;
}
