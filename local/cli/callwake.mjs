#!/usr/bin/env node
// The `callwake` command (package.json `bin`). It runs the TypeScript in this folder through the
// installed tsx (a devDependency, like everything `npm start` needs), so `npm ci` is the only step:
// no build, no generated files to keep in step with the source.
import { tsImport } from 'tsx/esm/api';

const { run } = await tsImport('./main.ts', import.meta.url);
process.exitCode = await run(process.argv.slice(2));
