/**
 * The built-in echo upstream of `wsgate dev`: echoes every message with its type, answers
 * `whoami` with the identity headers it received, and never sees a token.
 */
import { WebSocketServer } from 'ws';

export interface EchoServer {
  port: number;
  close(): Promise<void>;
}

export function startEchoServer(port = 0, host = '127.0.0.1'): Promise<EchoServer> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port, host, perMessageDeflate: false, maxPayload: 64 << 20 });
    wss.on('connection', (ws, req) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() === 'whoami') {
          const h = req.headers;
          ws.send(JSON.stringify({ url: req.url, user: h['x-user-id'] ?? null, requestId: h['x-request-id'] ?? null, forwardedFor: h['x-forwarded-for'] ?? null }));
          return;
        }
        ws.send(data, { binary: isBinary });
      });
    });
    wss.once('error', reject);
    wss.once('listening', () => {
      const addr = wss.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => new Promise((r) => wss.close(() => r())),
      });
    });
  });
}
