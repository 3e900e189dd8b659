#!/usr/bin/env node
// The installed `nls` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
import { installCrashHandlers, main } from '../dist/cli/main.js';

// An error nobody catches ends nls with one line and its stack, exit 70 (docs/cli.md).
installCrashHandlers();
process.exitCode = await main(process.argv.slice(2));
