// Load generator worker (forked by lib/load.mjs, driven over IPC). Holds WebSocket client
// connections and runs one bounded load at a time: closed loop, open loop at a fixed rate,
// handshake cycles, broadcast listening/publishing, a slow consumer. Latencies are returned raw
// in microseconds. Every loop stops at its deadline; nothing here runs unbounded.
import { WebSocket } from 'ws';
import { performance } from 'node:perf_hooks';

const now = () => performance.now();
const epochMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const OPTS = { perMessageDeflate: false, handshakeTimeout: 10000, maxPayload: 64 * 1024 * 1024 };

let conns = [];
let onMsg = () => {};
let unexpectedCloses = 0;
let slow = null;

function open(url, t0 = now()) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, OPTS);
    let done = false;
    const finish = (r) => { if (!done) { done = true; resolve(r); } };
    ws.on('open', () => finish({ ws, ms: now() - t0 }));
    ws.on('unexpected-response', (req, res) => { ws._benchClosing = true; finish({ status: res.statusCode, ms: now() - t0 }); res.resume(); ws.terminate(); });
    ws.on('error', (e) => { if (!done) ws._benchClosing = true; finish({ error: e.code || e.message, ms: now() - t0 }); });
    ws.on('message', (d, bin) => onMsg(ws, d, bin));
    ws.on('close', () => { if (!ws._benchClosing && done) unexpectedCloses++; });
  });
}

function payload(size, t) {
  const b = Buffer.alloc(Math.max(size, 8), 120);
  b.writeDoubleLE(t, 0);
  return b;
}

async function pool(n, concurrency, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, async () => {
    while (next < n) await fn(next++);
  }));
}

const commands = {
  async connect({ urls, n, concurrency = 100 }) {
    const openMs = []; const errors = {};
    await pool(n, concurrency, async (i) => {
      const r = await open(urls[i % urls.length]);
      if (r.ws) { conns.push(r.ws); openMs.push(Math.round(r.ms * 1000)); }
      else { const k = r.status ?? r.error; errors[k] = (errors[k] || 0) + 1; }
    });
    return { opened: openMs.length, total: conns.length, errors, openUs: openMs };
  },

  async closeAll({ timeoutMs = 5000 } = {}) {
    const all = conns; conns = [];
    await Promise.all(all.map((ws) => new Promise((res) => {
      ws._benchClosing = true;
      if (ws.readyState >= 2) return res();
      const t = setTimeout(() => { ws.terminate(); res(); }, timeoutMs);
      ws.once('close', () => { clearTimeout(t); res(); });
      ws.close(1000);
    })));
    return { closed: all.length };
  },

  async closedLoop({ size, durationMs, inflight = 1 }) {
    let running = true; let roundTrips = 0; let outstanding = 0;
    const buf = payload(size, 0);
    onMsg = (ws) => {
      outstanding--;
      if (!running) return;
      roundTrips++; outstanding++; ws.send(buf);
    };
    for (const ws of conns) for (let i = 0; i < inflight; i++) { outstanding++; ws.send(buf); }
    const t0 = now();
    await sleep(durationMs);
    running = false;
    const wallMs = now() - t0;
    const d0 = now();
    while (outstanding > 0 && now() - d0 < 3000) await sleep(10);
    onMsg = () => {};
    return { roundTrips, wallMs, undelivered: outstanding };
  },

  async openLoop({ size, rate, durationMs }) {
    const lat = []; const lag = []; let sent = 0; let received = 0;
    onMsg = (ws, d) => { received++; lat.push(Math.round((now() - d.readDoubleLE(0)) * 1000)); };
    const t0 = now();
    const n = conns.length;
    await new Promise((resolve) => {
      const tick = () => {
        const el = now() - t0;
        // message i is intended at t0 + i/rate, so i+1 messages are due once el >= i/rate
        const due = Math.min(Math.floor((el * rate) / 1000) + 1, Math.floor((durationMs * rate) / 1000));
        while (sent < due) {
          // Open loop: sends follow the schedule whatever the replies do. Latency is raw
          // send->receive (actual send time in the payload); the lag behind the schedule (timer
          // granularity, a busy generator) is reported separately.
          const intended = t0 + (sent * 1000) / rate;
          const at = now();
          lag.push(Math.round((at - intended) * 1000));
          conns[sent % n].send(payload(size, at));
          sent++;
        }
        if (el >= durationMs) resolve(); else setTimeout(tick, 1);
      };
      tick();
    });
    const d0 = now();
    while (received < sent && now() - d0 < 3000) await sleep(5);
    onMsg = () => {};
    return { sent, received, latUs: lat, lagUs: lag };
  },

  async handshakes({ urls, durationMs, concurrency, firstMessage = false, maxCount = Infinity }) {
    const openUs = []; const firstUs = []; const errors = {}; let ok = 0; let started = 0;
    const t0 = now(); const deadline = t0 + durationMs;
    const msg = payload(16, 0);
    await Promise.all(Array.from({ length: concurrency }, async (_, lane) => {
      while (now() < deadline && started < maxCount) {
        const url = urls[started++ % urls.length];
        const c0 = now();
        const r = await open(url, c0);
        if (!r.ws) { const k = r.status ?? r.error; errors[k] = (errors[k] || 0) + 1; continue; }
        openUs.push(Math.round(r.ms * 1000));
        if (firstMessage) {
          const got = await new Promise((res) => {
            const t = setTimeout(() => res(false), 5000);
            r.ws.once('message', () => { clearTimeout(t); res(true); });
            r.ws.send(msg);
          });
          if (got) firstUs.push(Math.round((now() - c0) * 1000)); else errors.noEcho = (errors.noEcho || 0) + 1;
        }
        r.ws._benchClosing = true;
        await new Promise((res) => {
          const t = setTimeout(() => { r.ws.terminate(); res(); }, 3000);
          r.ws.once('close', () => { clearTimeout(t); res(); });
          r.ws.close(1000);
        });
        ok++;
      }
      void lane;
    }));
    return { ok, wallMs: now() - t0, errors, openUs, firstUs };
  },

  // Broadcast: a received message carrying "B|<epoch ms>|..." (bare, or as the `data` of a hub
  // route's JSON envelope) is a delivery.
  async listen() {
    const lat = [];
    onMsg = (ws, d) => {
      const s = d.toString();
      const i = s.indexOf('B|');
      if (i >= 0) lat.push(Math.round((epochMs() - parseFloat(s.slice(i + 2))) * 1000));
    };
    commands._lat = lat;
    return { listening: conns.length };
  },
  async collect() { const lat = commands._lat || []; commands._lat = []; onMsg = () => {}; return { latUs: lat }; },

  async publish({ url, token, count, intervalMs, size = 64 }) {
    const delivered = []; const errors = {};
    for (let i = 0; i < count; i++) {
      const head = `B|${epochMs()}|${i}|`;
      const body = head + 'x'.repeat(Math.max(0, size - head.length));
      try {
        const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body });
        const txt = await r.text();
        if (r.status !== 200) errors[r.status] = (errors[r.status] || 0) + 1;
        else delivered.push(JSON.parse(txt).delivered ?? null);
      } catch (e) { errors[e.code || e.message] = (errors[e.code || e.message] || 0) + 1; }
      await sleep(intervalMs);
    }
    return { delivered, errors };
  },

  // Slow consumer: its own connection that stops reading and keeps sending (the echo comes back
  // to a socket nobody reads, so the relay in between has to buffer or push back).
  async slowStart({ url, size, rate }) {
    const r = await open(url);
    if (!r.ws) throw new Error(`slow consumer could not connect: ${r.status ?? r.error}`);
    r.ws.pause();
    const st = { ws: r.ws, sent: 0, closedBy: null };
    slow = st;
    r.ws.on('close', (code) => { st.closedBy = code; });
    const buf = payload(size, 0);
    const perTick = Math.max(1, Math.round(rate / 100));
    st.timer = setInterval(() => {
      if (r.ws.readyState !== 1) return;
      if (r.ws.bufferedAmount > 64 * 1024 * 1024) return; // our own send side: bounded too
      for (let i = 0; i < perTick; i++) { r.ws.send(buf); st.sent++; }
    }, 10);
    return { ok: true };
  },
  async slowStop() {
    if (!slow) return {};
    clearInterval(slow.timer);
    const res = { sent: slow.sent, closedBy: slow.closedBy };
    slow.ws._benchClosing = true; slow.ws.terminate(); slow = null;
    return res;
  },

  async stats() { return { conns: conns.length, open: conns.filter((w) => w.readyState === 1).length, unexpectedCloses }; },
};

process.on('message', async ({ id, cmd, args }) => {
  try {
    if (!commands[cmd]) throw new Error(`unknown command ${cmd}`);
    process.send({ id, result: await commands[cmd](args) });
  } catch (e) {
    process.send({ id, error: e.stack || String(e) });
  }
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
