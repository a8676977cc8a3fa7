#!/usr/bin/env node
// The `wsgate` command. Registers tsx so the TypeScript sources and `.ts` route files in any
// folder load on Node 20+ without a build step, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
await main(process.argv.slice(2));
