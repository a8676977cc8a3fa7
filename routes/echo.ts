import { defineRoute } from 'wsgate/route';

// /echo -> the echo upstream (`npm start` runs a built-in one and sets ECHO_UPSTREAM).
export default defineRoute({
  path: '/echo',
  upstream: process.env.ECHO_UPSTREAM ?? 'ws://127.0.0.1:9001',
  heartbeat: 'aws-alb',
  maxMessageBytes: 16 * 1024 * 1024,
  claimHeaders: { sub: 'X-User-Id' },
});
