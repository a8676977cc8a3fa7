/**
 * The handshake request as the app sees it on Node, without building a WHATWG `Request` per
 * upgrade. undici's `Request` (URL parse, `Headers` with per-header validation, an `AbortSignal`)
 * cost about 10 µs of the ~20 µs the gateway spends on a handshake in a hot loop, and the
 * gateway reads only the URL, the method and a few headers. Node's HTTP parser has already
 * validated names and values, so the headers are read straight from `rawHeaders`, with the
 * semantics of `Headers` (case-insensitive names, repeated fields joined with ", ", sorted
 * iteration with each Set-Cookie apart, immutable). Anything else (body, signal, clone...) builds the real `Request` on
 * first use, so an application's own middleware mounted next to the gateway sees a full one.
 * Both prototypes chain to the WHATWG ones: `instanceof Request` / `instanceof Headers` hold.
 */
import type { IncomingMessage } from 'node:http';

const immutable = (): never => {
  throw new TypeError('immutable: the headers of a request cannot be changed');
};

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Leading and trailing HTTP whitespace removed, as `Headers` normalises a value. */
function normalise(v: string): string {
  return v.length > 0 && (isOws(v.charCodeAt(0)) || isOws(v.charCodeAt(v.length - 1))) ? v.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '') : v;
}

export class RawHeaders {
  #map: Map<string, string> | undefined;
  readonly #raw: string[];

  constructor(raw: string[]) {
    this.#raw = raw;
  }

  #fields(): Map<string, string> {
    if (this.#map) return this.#map;
    const m = new Map<string, string>();
    const raw = this.#raw;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      const v = normalise(raw[i + 1]!);
      const had = m.get(k);
      m.set(k, had === undefined ? v : `${had}, ${v}`);
    }
    this.#map = m;
    return m;
  }

  get(name: string): string | null {
    return this.#fields().get(String(name).toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#fields().has(String(name).toLowerCase());
  }
  getSetCookie(): string[] {
    const out: string[] = [];
    for (let i = 0; i + 1 < this.#raw.length; i += 2) if (this.#raw[i]!.toLowerCase() === 'set-cookie') out.push(normalise(this.#raw[i + 1]!));
    return out;
  }
  *entries(): IterableIterator<[string, string]> {
    const m = this.#fields();
    for (const k of [...m.keys()].sort()) {
      if (k === 'set-cookie') for (const v of this.getSetCookie()) yield [k, v];
      else yield [k, m.get(k)!];
    }
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  forEach(fn: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this as unknown as Headers);
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  append = immutable;
  set = immutable;
  delete = immutable;
}
Object.setPrototypeOf(RawHeaders.prototype, Headers.prototype);

/** Request members served by the full `Request`, built on first use. */
const DELEGATED = [
  'body',
  'bodyUsed',
  'cache',
  'credentials',
  'destination',
  'duplex',
  'integrity',
  'keepalive',
  'mode',
  'redirect',
  'referrer',
  'referrerPolicy',
  'signal',
] as const;
const DELEGATED_METHODS = ['arrayBuffer', 'blob', 'bytes', 'clone', 'formData', 'json', 'text'] as const;

export class UpgradeRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  #full: Request | undefined;

  constructor(url: string, method: string, rawHeaders: string[]) {
    this.url = url;
    this.method = method;
    this.headers = new RawHeaders(rawHeaders) as unknown as Headers;
  }

  /** The WHATWG Request with the same URL, method and headers. */
  full(): Request {
    return (this.#full ??= new Request(this.url, { method: this.method, headers: [...(this.headers as unknown as RawHeaders)] }));
  }
}
for (const k of DELEGATED)
  Object.defineProperty(UpgradeRequest.prototype, k, {
    get(this: UpgradeRequest) {
      return (this.full() as unknown as Record<string, unknown>)[k];
    },
  });
for (const k of DELEGATED_METHODS)
  Object.defineProperty(UpgradeRequest.prototype, k, {
    value(this: UpgradeRequest, ...args: unknown[]) {
      const full = this.full() as unknown as Record<string, (...a: unknown[]) => unknown>;
      return full[k]!.apply(full, args);
    },
  });
Object.setPrototypeOf(UpgradeRequest.prototype, Request.prototype);

/** The app's view of an `upgrade` request: origin-form target only, on `gateway.local`. */
export function upgradeRequest(req: IncomingMessage, secure: boolean): Request {
  const target = req.url ?? '/';
  // Only origin-form targets: `//evil/x` or an absolute URL must not pick the URL's host.
  const path = target.startsWith('/') ? (target.startsWith('//') ? target.replace(/^\/+/, '/') : target) : '/';
  return new UpgradeRequest(`${secure ? 'https' : 'http'}://gateway.local${path}`, req.method ?? 'GET', req.rawHeaders) as unknown as Request;
}
