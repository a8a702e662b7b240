import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ESM_REQUIRE_BANNER, HOUSE_BUNDLING, HOUSE_ESBUILD_TARGET } from '../lib/lambda-defaults.js';

export const FUNCTIONS = ['pbx-api', 'app-api', 'events', 'callbacks', 'ring-timer'] as const;

export interface BundleFigure {
  name: string;
  bytes: number;
  /** Median of fresh processes: from the import's start to the module's evaluation. */
  importMs: number;
}

/**
 * Each function bundled as the CDK bundles it (lib/lambda-defaults.ts: minified ESM for node22,
 * the AWS SDK from the runtime), its size, and the time a fresh Node process takes to import it:
 * the part of a cold start the code decides (Lambda adds its own init around it).
 */
export async function measureBundles(runs = 5): Promise<BundleFigure[]> {
  // Inside the project (git-ignored .local/): the runtime's SDK resolves from node_modules here, as
  // it resolves from /var/runtime in Lambda (ES modules ignore NODE_PATH).
  mkdirSync('.local', { recursive: true });
  const dir = mkdtempSync(join(process.cwd(), '.local', 'bundles-'));
  try {
    const out: BundleFigure[] = [];
    for (const name of FUNCTIONS) {
      const file = join(dir, `${name}.mjs`);
      await build({
        entryPoints: [`functions/${name}/handler.ts`],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: HOUSE_ESBUILD_TARGET,
        mainFields: HOUSE_BUNDLING.mainFields ?? ['module', 'main'],
        banner: { js: ESM_REQUIRE_BANNER },
        minify: true,
        external: HOUSE_BUNDLING.bundleAwsSDK ? [] : ['@aws-sdk/*'],
        outfile: file,
        logLevel: 'error',
      });
      const probe = join(dir, `${name}-probe.mjs`);
      writeFileSync(
        probe,
        `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`,
      );
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = spawnSync(process.execPath, [probe], {
          env: { PATH: process.env.PATH ?? '' },
          encoding: 'utf8',
        });
        const ms = Number(r.stdout.trim().split('\n').pop());
        if (!Number.isFinite(ms)) throw new Error(`importing ${name} failed: ${r.stderr.slice(0, 500)}`);
        times.push(ms);
      }
      times.sort((a, b) => a - b);
      out.push({ name, bytes: statSync(file).size, importMs: times[Math.floor(times.length / 2)]! });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
