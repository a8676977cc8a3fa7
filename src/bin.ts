#!/usr/bin/env node
// The `wsgate` command (dist/bin.js in the package).
import { main } from './cli.ts';

await main(process.argv.slice(2));
