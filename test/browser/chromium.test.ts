/**
 * Issue 3 item 6: the `wsgate dev` chat page in headless Chromium (Debian's /usr/bin/chromium
 * driven by playwright-core), two browser contexts on two gateway processes that share a private
 * Redis: each sees the other in the online list and receives the other's messages.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { routesDir, spawnGateway, stopProcesses } from '../helpers/processes.ts';
import { createRedisServer, hasRedis, noRedisReason, type RedisServer } from '../helpers/redis-server.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const skipReason = !hasChromium
  ? `${CHROMIUM} is missing: the browser chat test is SKIPPED. Install it (apt-get install chromium) to run it.`
  : !hasRedis
    ? `browser chat test SKIPPED: ${noRedisReason}`
    : '';
if (skipReason) console.warn(`\n*** ${skipReason} ***\n`);

const SCREENSHOT = '/tmp/wsgate-chat.png';
let browser: Browser | undefined;
let redis: RedisServer | undefined;

afterAll(async () => {
  await browser?.close().catch(() => {});
  await stopProcesses();
  await redis?.kill();
}, 30_000);

const onlineUsers = (page: Page) => page.$$eval('#online li', (els) => els.map((e) => (e as HTMLElement).dataset.user ?? ''));
const messageTexts = (page: Page) => page.$$eval('#messages li', (els) => els.map((e) => e.textContent ?? ''));

async function joinAs(page: Page, base: string, name: string, room: string): Promise<void> {
  await page.goto(base + '/');
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join');
  await page.waitForFunction(() => !(document.getElementById('send') as HTMLButtonElement).disabled, undefined, { timeout: 10_000 });
}
async function say(page: Page, text: string): Promise<void> {
  await page.fill('#input', text);
  await page.click('#send');
}

describe.skipIf(Boolean(skipReason))('chat demo in headless Chromium across two instances', () => {
  it('alice (instance 1) and bob (instance 2) see each other online and exchange messages', async () => {
    const { chromium } = await import('playwright-core');
    redis = await createRedisServer();
    const routes = routesDir({ chat: { path: '/chat/:room', channel: 'room:{room}', heartbeat: 'aws-alb', maxMessageBytes: 65536, maxMessagesPerSec: 20 } });
    // `dev` mounts the page and /_wsgate/dev-token; both get the same JWT_SECRET (the helper's
    // default) so a token minted by either is valid on both.
    const [i1, i2] = await Promise.all([
      spawnGateway({ command: 'dev', routes, store: redis.url, env: { PRESENCE_TTL_SEC: '5' } }),
      spawnGateway({ command: 'dev', routes, store: redis.url, env: { PRESENCE_TTL_SEC: '5' } }),
    ]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const [ctxA, ctxB] = await Promise.all([browser.newContext({ viewport: { width: 900, height: 480 } }), browser.newContext({ viewport: { width: 900, height: 480 } })]);
    const alice = await ctxA.newPage();
    const bob = await ctxB.newPage();
    const pageErrors: string[] = [];
    for (const p of [alice, bob]) p.on('pageerror', (e) => pageErrors.push(e.message));

    await joinAs(alice, `http://127.0.0.1:${i1.port}`, 'alice', 'lobby');
    await joinAs(bob, `http://127.0.0.1:${i2.port}`, 'bob', 'lobby');
    await alice.waitForFunction(() => !!document.querySelector('#online li[data-user="bob"]'), undefined, { timeout: 10_000 });
    await bob.waitForFunction(() => !!document.querySelector('#online li[data-user="alice"]'), undefined, { timeout: 10_000 });
    expect((await onlineUsers(alice)).sort()).toEqual(['alice', 'bob']);
    expect((await onlineUsers(bob)).sort()).toEqual(['alice', 'bob']);

    await say(alice, 'hi bob, from instance 1');
    await bob.waitForFunction(() => document.getElementById('messages')!.textContent!.includes('hi bob, from instance 1'), undefined, { timeout: 10_000 });
    await say(bob, 'hello alice <b>not bold</b>');
    await alice.waitForFunction(() => document.getElementById('messages')!.textContent!.includes('hello alice <b>not bold</b>'), undefined, { timeout: 10_000 });
    expect(await messageTexts(bob)).toContain('alice: hi bob, from instance 1');
    expect(await messageTexts(alice)).toContain('bob: hello alice <b>not bold</b>');
    expect(await alice.$$('#messages b b')).toHaveLength(0); // user text is never parsed as HTML
    expect(pageErrors).toEqual([]);

    await Promise.all([alice.screenshot({ path: SCREENSHOT }), bob.screenshot({ path: SCREENSHOT.replace('.png', '-bob.png') })]);

    // Bob leaves: alice's list drops him.
    await bob.click('#join');
    await alice.waitForFunction(() => !document.querySelector('#online li[data-user="bob"]'), undefined, { timeout: 10_000 });
    expect(await messageTexts(alice)).toContain('bob left');
  }, 60_000);
});
