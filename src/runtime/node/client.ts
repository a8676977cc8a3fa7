/**
 * `wsgate client URL`: each stdin line is sent as a text message, each message received is
 * printed. Exits when the socket closes (printing the code and reason) or stdin ends.
 * A refused handshake prints the gateway's JSON error.
 */
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';

export function runClient(url: string): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let pending = 0;
    let inputDone = false;
    const maybeExit = () => inputDone && pending === 0 && ws.close(1000, 'done');
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        console.error(`HTTP ${res.statusCode}: ${body}`);
        process.exitCode = 1;
        resolve();
      });
    });
    ws.on('error', (err) => {
      console.error(`error: ${err.message}`);
      process.exitCode = 1;
      resolve();
    });
    ws.on('open', () => {
      console.error('connected; type a message and press Enter (Ctrl-D to quit)');
      const rl = createInterface({ input: process.stdin });
      rl.on('line', (line) => {
        pending++;
        ws.send(line);
      });
      rl.on('close', () => {
        inputDone = true;
        setTimeout(() => ws.close(1000, 'done'), 2000).unref();
        maybeExit();
      });
    });
    ws.on('message', (data, isBinary) => {
      console.log(isBinary ? `<binary ${(data as Buffer).length} bytes>` : data.toString());
      if (pending > 0) pending--;
      maybeExit();
    });
    ws.on('close', (code, reason) => {
      console.error(`closed ${code}${reason.length ? ` ${reason.toString()}` : ''}`);
      resolve();
    });
  });
}
