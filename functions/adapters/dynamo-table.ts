import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PARTITION_KEY, SORT_KEY, STREAM_VIEW_TYPE, TTL_ATTRIBUTE } from './table-layout.js';

export interface DynamoOptions {
  endpoint?: string;
  region?: string;
}

/** Clients are built once per container; the document client drops undefined members. */
export function documentClient(opts: DynamoOptions = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.endpoint
      ? {
          endpoint: opts.endpoint,
          region: opts.region ?? 'local',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
    maxAttempts: 3,
    // A connection that cannot be made must not hold the PBX. (A requestTimeout here made test
    // requests hang now and then on reused sockets, so it is left to the SDK's defaults.)
    requestHandler: { connectionTimeout: 1000 },
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * Local development and tests: create the table (with TTL and its stream) when it is missing,
 * and turn the stream on for a table made before events existed. Returns its stream's ARN.
 */
export async function ensureTable(doc: DynamoDBDocumentClient, tableName: string): Promise<string> {
  let existing: TableDescription | undefined;
  try {
    existing = (await doc.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (e) {
    if (!(e instanceof ResourceNotFoundException) && (e as Error).name !== 'ResourceNotFoundException') throw e;
  }
  const stream = { StreamEnabled: true, StreamViewType: STREAM_VIEW_TYPE } as const;
  if (existing) {
    if (existing.LatestStreamArn && existing.StreamSpecification?.StreamEnabled) return existing.LatestStreamArn;
    const out = await doc.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: stream }));
    return out.TableDescription!.LatestStreamArn!;
  }
  const created = await doc.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: PARTITION_KEY, AttributeType: 'S' },
        { AttributeName: SORT_KEY, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
        { AttributeName: SORT_KEY, KeyType: 'RANGE' },
      ],
      StreamSpecification: stream,
    }),
  );
  await doc.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
  return created.TableDescription!.LatestStreamArn!;
}
