/** A real HTTP server on 127.0.0.1:0 that serves a JWKS and counts requests (JWKS tests). */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type JwksMode = 'ok' | 'status503' | 'redirect' | 'badjson' | 'notjwks' | 'slow';

export interface JwksServer {
  /** URL of the JWKS document. */
  url: string;
  /** Base URL (for other paths, e.g. an attacker's jku). */
  base: string;
  /** Requests per path. */
  hits: Map<string, number>;
  /** Requests to the JWKS path. */
  readonly fetches: number;
  /** Total requests on any path. */
  readonly total: number;
  mode: JwksMode;
  /** Delay for every response (ms); 'slow' mode adds 10 s. */
  delayMs: number;
  body: unknown;
  close(): Promise<void>;
}

export async function startJwksServer(body: unknown, path = '/.well-known/jwks.json'): Promise<JwksServer> {
  const state = { mode: 'ok' as JwksMode, delayMs: 0, body, hits: new Map<string, number>() };
  const timers = new Set<NodeJS.Timeout>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const p = req.url ?? '/';
    const json = (b: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(typeof b === 'string' ? b : JSON.stringify(b));
    };
    if (p !== path) return json(state.body); // any other path also serves keys: following it would "work"
    switch (state.mode) {
      case 'ok':
      case 'slow':
        return json(state.body);
      case 'status503':
        res.writeHead(503).end('down');
        return;
      case 'redirect':
        res.writeHead(302, { location: '/elsewhere.json' }).end();
        return;
      case 'badjson':
        return json('{"keys": [');
      case 'notjwks':
        return json({ hello: 'world' });
    }
  };
  const server = createServer((req, res) => {
    const p = req.url ?? '/';
    state.hits.set(p, (state.hits.get(p) ?? 0) + 1); // counted on arrival, before any delay
    const delay = state.delayMs + (state.mode === 'slow' ? 10_000 : 0);
    if (delay <= 0) return handle(req, res);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) handle(req, res);
    }, delay);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}${path}`,
    base,
    hits: state.hits,
    get fetches() {
      return state.hits.get(path) ?? 0;
    },
    get total() {
      return [...state.hits.values()].reduce((a, b) => a + b, 0);
    },
    get mode() {
      return state.mode;
    },
    set mode(m) {
      state.mode = m;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(d) {
      state.delayMs = d;
    },
    get body() {
      return state.body;
    },
    set body(b) {
      state.body = b;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
