/** The parts of Bun's APIs the adapter uses (the project does not depend on bun-types). */
import type { LegEvents } from '../../core/leg-events.ts';

/** The parts of Bun's ServerWebSocket this adapter uses. */
export interface BunServerWebSocket {
  data: BunSocketData;
  send(data: string | Uint8Array, compress?: boolean): number;
  sendText(data: string, compress?: boolean): number;
  sendBinary(data: Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: string): number;
  pause(): void;
  resume(): void;
  getBufferedAmount(): number;
  readyState: number;
}
export interface BunServer {
  upgrade(req: Request, opts: { data: BunSocketData; headers?: Record<string, string> }): boolean;
  requestIP(req: Request): { address: string } | null;
}
/** What main.ts passes to app.fetch as `env`. */
export interface BunEnv {
  server: BunServer;
}
export interface BunSocketData {
  open(ws: BunServerWebSocket): void;
  maxPayload: number;
  protocol: string;
  events?: LegEvents;
}
