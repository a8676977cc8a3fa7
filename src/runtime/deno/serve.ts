/** Serve a gateway on Deno: `Deno.serve` with the client's address passed to the gateway. */
import type { GatewayApp } from '../../gateway.ts';
import type { DenoEnv } from './adapter.ts';

declare const Deno: {
  serve(
    o: { port: number; hostname: string; onListen(addr: { port: number }): void },
    handler: (req: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): { shutdown(): Promise<void>; finished: Promise<void> };
};

export interface DenoServeOptions {
  port?: number;
  hostname?: string;
}

export interface DenoGatewayServer {
  /** Resolves with the bound port once listening. */
  listening: Promise<number>;
  shutdown(): Promise<void>;
}

/**
 * @example
 * import { createGateway, serveDeno } from 'wsgate';
 * const app = createGateway({ routes: [echo] });
 * serveDeno(app, { port: 8787 });
 */
export function serveDeno(app: GatewayApp, o: DenoServeOptions = {}): DenoGatewayServer {
  let listened!: (port: number) => void;
  const listening = new Promise<number>((r) => (listened = r));
  const server = Deno.serve({ port: o.port ?? 8787, hostname: o.hostname ?? '0.0.0.0', onListen: ({ port }) => listened(port) }, (req, info) =>
    app.fetch(req, { remoteAddr: info.remoteAddr } satisfies DenoEnv),
  );
  return { listening, shutdown: () => server.shutdown() };
}
