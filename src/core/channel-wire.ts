/**
 * What channel instances say to each other over the store's pub/sub: one JSON object per
 * message on topic `ch:<channel>` (messages and presence events) or `control` (close a
 * connection wherever it is). Binary payloads travel as base64.
 */
export interface Wire {
  k: 'm' | 'p' | 'c' | 'cr' | 'g'; // message, presence delta, close request, close reply, gap notice (an outbox lost messages)
  i: string; // instance
  to?: string; // close reply: the instance that asked
  from?: string; // user
  c?: string; // sender connection
  d?: string; // text data
  b?: string; // base64 binary data
  e?: 'join' | 'leave';
  o?: number; // history: the message's offset in its channel
  ep?: string; // history: the channel's epoch
  q?: 1; // queued in the publisher's outbox: its own members already had it
  n?: number; // presence delta: the user's connections on instance `i` after the change
  code?: number;
  reason?: string;
}

export const CONTROL = 'control';
export const topic = (channel: string) => `ch:${channel}`;

export function toBase64(u8: Uint8Array): string {
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
  return btoa(s);
}
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
export const decoder = new TextDecoder();
export const encoder = new TextEncoder();
