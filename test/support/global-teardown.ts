import type { RunningDynamo } from '../../local/dynamo-local.js';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __callwakeDynamo?: RunningDynamo }).__callwakeDynamo?.stop();
}
