import { defineRoute } from 'wsgate/route';

// /chat/:room -> a hub route: no backend, every message reaches everyone in the room on every
// gateway instance, with presence (join/leave) events.
export default defineRoute({
  path: '/chat/:room',
  channel: 'room:{room}',
  heartbeat: 'aws-alb',
  maxMessageBytes: 64 * 1024,
  maxMessagesPerSec: 20,
});
