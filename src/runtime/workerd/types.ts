/**
 * The few workerd APIs wsgate uses, typed locally: `@cloudflare/workers-types` is not a
 * dependency, and the project's typecheck must not need it. Shapes follow the Workers docs
 * (WebSocketPair, Durable Object state and the hibernation API).
 */

/** A workerd WebSocket: the WHATWG one plus `accept()` and (from `fetch`) `webSocket` responses. */
export interface WorkerdWebSocket extends EventTarget {
  accept(): void;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  readonly readyState: number;
  readonly protocol: string | null;
  readonly bufferedAmount?: number;
  binaryType: 'blob' | 'arraybuffer';
  serializeAttachment?(value: unknown): void;
  deserializeAttachment?(): unknown;
}

export interface DurableObjectId {
  toString(): string;
}
export interface DurableObjectStub {
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
}
export interface DurableObjectNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
}

/** `this.ctx` of a Durable Object (the parts used here). */
export interface DurableObjectState {
  readonly id: DurableObjectId;
  acceptWebSocket(ws: WorkerdWebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): WorkerdWebSocket[];
  setWebSocketAutoResponse(pair?: unknown): void;
  getWebSocketAutoResponseTimestamp(ws: WorkerdWebSocket): Date | null;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
  readonly storage: DurableObjectStorage;
}

/** The part of the Durable Object storage API (transactional KV) the channel object uses. */
export interface DurableObjectStorage {
  get<T = unknown>(key: string): Promise<T | undefined>;
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T = unknown>(options: { prefix?: string; start?: string; limit?: number }): Promise<Map<string, T>>;
}

interface WorkerdGlobals {
  WebSocketPair: new () => { 0: WorkerdWebSocket; 1: WorkerdWebSocket };
  WebSocketRequestResponsePair: new (request: string, response: string) => unknown;
}

/** Globals that only exist on workerd; resolved lazily so importing this module is harmless elsewhere. */
export const workerd = globalThis as unknown as WorkerdGlobals;

/** `new Response(null, { status: 101, webSocket })`: workerd's extension of ResponseInit. */
export function upgradeResponse(client: WorkerdWebSocket, protocol?: string): Response {
  const headers = new Headers();
  if (protocol) headers.set('sec-websocket-protocol', protocol);
  return new Response(null, { status: 101, headers, webSocket: client } as ResponseInit);
}
