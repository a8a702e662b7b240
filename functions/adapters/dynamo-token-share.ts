import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ProviderTokenShare, SharedToken } from './apns-jwt.js';
import { isConditionFailed } from './dynamo-errors.js';
import { providerTokenKey as keyOf } from './table-layout.js';

/**
 * The team's current APNs provider token in the single table (pk `APNSJWT#<team>#<key>`),
 * replaced with a conditional write so exactly one container mints each new token. A provider
 * token is a short-lived credential, not the key: holding it only lets one push as the team
 * for under an hour, and the table is encrypted and readable by pbx-api alone.
 */
const HOUR_S = 3600;

export class DynamoTokenShare implements ProviderTokenShare {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async read(teamId: string, keyId: string): Promise<SharedToken | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keyOf(teamId, keyId), ConsistentRead: true }),
    );
    return out.Item ? { token: out.Item.token as string, mintedAt: out.Item.mintedAt as number } : undefined;
  }

  async replace(teamId: string, keyId: string, next: SharedToken, previous: SharedToken | undefined): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keyOf(teamId, keyId), ...next, ttl: Math.ceil(next.mintedAt / 1000) + HOUR_S },
          ...(previous
            ? { ConditionExpression: 'mintedAt = :prev', ExpressionAttributeValues: { ':prev': previous.mintedAt } }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw e;
    }
  }
}
