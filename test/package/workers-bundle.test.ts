/**
 * `wrangler deploy --dry-run` bundles the Worker as deployed, and the bundle holds no Node-only
 * code: no ws, ioredis, @hono/node-server, no src/runtime/node, no node: built-ins (route files
 * import `wsgate/route`, the package entry with only the typed identity helper).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveWorkerdTools } from '../helpers/wrangler-dev.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const tools = resolveWorkerdTools();
if ('missing' in tools) console.warn(`\n!!! WORKERS BUNDLE CHECK SKIPPED: ${tools.missing}\n`);

describe.skipIf('missing' in tools)('Workers bundle (wrangler deploy --dry-run)', () => {
  const out = mkdtempSync(join(tmpdir(), 'wsgate-bundle-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('bundles without Node-only code', async () => {
    const t = tools as { node: string; wrangler: string };
    const { stdout } = await promisify(execFile)(t.node, [t.wrangler, 'deploy', '--dry-run', '--outdir', out], {
      cwd: ROOT,
      env: { PATH: `${join(ROOT, 'node_modules/.bin')}${delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false', CI: '1' },
      timeout: 60_000,
    });
    expect(stdout).toContain('env.CHANNELS (ChannelObject)');
    const bundle = readFileSync(join(out, 'main.js'), 'utf8');
    const sources = [...bundle.matchAll(/^\/\/ (\S+)$/gm)].map((m) => m[1]!);
    expect(sources).toContain('src/runtime/workerd/main.ts');
    expect(sources).toContain('src/runtime/workerd/worker.ts');
    // Route files import `wsgate/route`: the package's own tiny entry (resolved to its source through
    // tsconfig paths, as for the typecheck), no wrangler alias.
    expect(sources).toContain('src/routing/define-route.ts');
    expect(sources).toContain('src/runtime/workerd/channel-object.ts');
    expect(sources).toContain('src/runtime/workerd/store.ts');
    expect(sources).toContain('routes/chat.ts');
    const forbidden = sources.filter((s) => /node_modules\/(ws|ioredis|@hono\/node-server|tsx)\/|src\/runtime\/(node|bun|deno)\/|src\/store\/redis|src\/routing\/load\.ts|src\/cli\.ts/.test(s));
    expect(forbidden).toEqual([]);
    expect(bundle).not.toMatch(/from ["']node:(net|http|https|fs|child_process|tls)["']|require\(["'](ws|ioredis)["']\)/);
    expect(bundle).toMatch(/ChannelObject = class|class ChannelObject/);
  }, 90_000);
});
