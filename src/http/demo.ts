/**
 * The chat demo of `wsgate dev` (never mounted in production): `GET /` serves one self-contained
 * page (inline HTML/CSS/JS, no external assets) that gets a dev token, joins `/chat/<room>` and
 * shows messages and who is online; `GET /_wsgate/dev-token?user=<name>` mints an HS256 token
 * (sub=<name>, 1 h) with the gateway's JWT_SECRET, to loopback peers only (403 otherwise).
 * Mounted before the admin API, so the token endpoint answers without the admin credential. The online list is derived from join/leave
 * events and the `presence` snapshot the gateway sends a connection when it joins.
 */
import type { Context, Hono } from 'hono';

export const DEV_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>wsgate chat</title>
<style>
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,sans-serif;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 16px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
header b{margin-right:12px}input,button{font:inherit;padding:6px 10px;border:1px solid #c5cad3;border-radius:6px}
header input:disabled{background:#2d3446;color:#fff;border-color:#2d3446}
button{background:#3867d6;color:#fff;border-color:#3867d6;cursor:pointer}button:disabled{opacity:.5;cursor:default}
main{display:grid;grid-template-columns:1fr 200px;gap:12px;padding:12px;height:calc(100vh - 56px)}
section,aside{background:#fff;border:1px solid #dde1e7;border-radius:8px;display:flex;flex-direction:column;min-height:0}
h2{font-size:13px;text-transform:uppercase;color:#6b7280;margin:0;padding:8px 12px;border-bottom:1px solid #eef0f3}
ul{list-style:none;margin:0;padding:8px 12px;overflow:auto;flex:1}li{padding:2px 0;word-break:break-word}
#messages .sys{color:#6b7280;font-style:italic}#messages .me b{color:#3867d6}#messages b{color:#b4451f}
#online li::before{content:"\\25CF\\00a0";color:#20bf6b}form{display:flex;gap:8px;padding:8px;border-top:1px solid #eef0f3}
form input{flex:1}#status{margin-left:auto;font-size:13px;color:#c5cad3}
</style></head><body>
<header><b>wsgate chat</b>
<input id="name" placeholder="your name" maxlength="32" autocomplete="off">
<input id="room" placeholder="room" value="lobby" maxlength="32">
<button id="join" type="button">Join</button><span id="status">not connected</span></header>
<main><section><h2 id="title">Messages</h2><ul id="messages"></ul>
<form id="form"><input id="input" placeholder="Say something" autocomplete="off" disabled>
<button id="send" type="submit" disabled>Send</button></form></section>
<aside><h2>Online</h2><ul id="online"></ul></aside></main>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const valid = /^[A-Za-z0-9_-]{1,32}$/;
  const online = new Set();
  let ws, me;
  const status = (t) => { $('status').textContent = t; };
  function line(cls, who, text) {
    const li = document.createElement('li');
    li.className = cls;
    if (who !== null) { const b = document.createElement('b'); b.textContent = who + ': '; li.append(b); }
    li.append(document.createTextNode(text));
    const box = $('messages');
    box.append(li);
    box.scrollTop = box.scrollHeight;
  }
  function renderOnline() {
    $('online').replaceChildren(...[...online].sort().map((u) => {
      const li = document.createElement('li');
      li.textContent = u === me ? u + ' (you)' : u;
      li.dataset.user = u;
      return li;
    }));
  }
  function setConnected(on) {
    $('input').disabled = $('send').disabled = !on;
    $('join').textContent = on ? 'Leave' : 'Join';
    $('name').disabled = $('room').disabled = on;
  }
  async function join() {
    if (ws) { ws.close(1000, 'Left'); return; }
    const name = $('name').value.trim(), room = $('room').value.trim();
    if (!valid.test(name) || !valid.test(room)) return status('name and room: 1-32 of A-Z a-z 0-9 _ -');
    status('getting a token...');
    const res = await fetch('/_wsgate/dev-token?user=' + encodeURIComponent(name));
    const body = await res.json().catch(() => ({}));
    if (!res.ok) return status('token refused: ' + (body.message || res.status));
    me = name;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const sock = ws = new WebSocket(scheme + '://' + location.host + '/chat/' + encodeURIComponent(room) + '?token=' + encodeURIComponent(body.token));
    status('connecting...');
    sock.onopen = () => {
      status('connected as ' + name + ' in ' + room);
      $('title').textContent = 'Messages in ' + room;
      online.add(name); renderOnline(); setConnected(true); $('input').focus();
    };
    sock.onmessage = (e) => {
      if (typeof e.data !== 'string') return line('sys', null, '[binary message]');
      let m;
      try { m = JSON.parse(e.data); } catch { return line('', null, e.data); }
      if (m.type === 'ping') { sock.send('{"type":"pong"}'); return; } // app-level keepalive where the runtime cannot ping (Workers)
      if (m.type === 'message') line(m.from === me ? 'me' : '', String(m.from ?? 'server'), typeof m.data === 'string' ? m.data : JSON.stringify(m.data));
      else if (m.type === 'presence') { for (const u of m.users) online.add(u.user); renderOnline(); }
      else if (m.type === 'join') { if (!online.has(m.user)) { online.add(m.user); if (m.user !== me) line('sys', null, m.user + ' joined'); } renderOnline(); }
      else if (m.type === 'leave') { online.delete(m.user); line('sys', null, m.user + ' left'); renderOnline(); }
      else if (m.type === 'gap') line('sys', null, 'connection between servers was interrupted: some messages may be missing');
    };
    sock.onclose = (e) => {
      if (ws === sock) ws = undefined;
      status('disconnected (' + e.code + (e.reason ? ' ' + e.reason : '') + ')');
      online.clear(); renderOnline(); setConnected(false);
    };
  }
  $('join').onclick = () => { join().catch((err) => status('error: ' + err.message)); };
  $('form').onsubmit = (e) => {
    e.preventDefault();
    const text = $('input').value;
    if (!text || !ws || ws.readyState !== 1) return;
    ws.send(text);
    line('me', me, text);
    $('input').value = '';
  };
})();
</script></body></html>`;

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms: the socket peer, never a forwarded header. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.replace(/^::ffff:/i, '');
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

export function mountDemo(app: Hono, deps: { secret: string | undefined; peer(c: Context): string | undefined }): void {
  app.get('/', (c) => {
    c.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'");
    c.header('x-content-type-options', 'nosniff');
    c.header('cache-control', 'no-store');
    return c.html(PAGE);
  });

  app.get('/_wsgate/dev-token', async (c) => {
    c.header('cache-control', 'no-store');
    // Anyone who reaches this could mint a token for any user: loopback peers only.
    if (!isLoopback(deps.peer(c))) return c.json({ error: 'forbidden', message: 'Dev tokens are served to loopback clients only' }, 403);
    if (!deps.secret) return c.json({ error: 'not_found', message: 'Dev tokens need JWT_SECRET' }, 404);
    const user = c.req.query('user') ?? '';
    if (!DEV_NAME.test(user)) return c.json({ error: 'bad_request', message: 'user: 1-32 characters of A-Z a-z 0-9 _ -' }, 400);
    const now = Math.floor(Date.now() / 1000);
    const { SignJWT } = await import('jose/jwt/sign');
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode(deps.secret));
    return c.json({ token, user, expiresIn: 3600 });
  });
}
