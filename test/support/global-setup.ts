import { tsImport } from 'tsx/esm/api';
import type { RunningDynamo } from '../../local/dynamo-local.js';

/**
 * One DynamoDB Local for the whole run; every test file makes its own table in it.
 * Jest loads this file outside its module transform, so the TypeScript it needs comes through tsx.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DYNAMODB_ENDPOINT) return;
  const { startDynamoLocal } = (await tsImport(
    '../../local/dynamo-local.ts',
    import.meta.url,
  )) as typeof import('../../local/dynamo-local.js');
  const dynamo: RunningDynamo = await startDynamoLocal();
  process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  (globalThis as { __callwakeDynamo?: RunningDynamo }).__callwakeDynamo = dynamo;
}
