import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

const named = (e: unknown, name: string): boolean => (e as { name?: string } | null)?.name === name;

export const isConditionFailed = (e: unknown): boolean => named(e, 'ConditionalCheckFailedException');
export const isTransactionCanceled = (e: unknown): boolean => named(e, 'TransactionCanceledException');

/** The item a failed condition saw (ReturnValuesOnConditionCheckFailure: ALL_OLD), if any. */
export function itemOfConditionFailure(e: unknown): Record<string, unknown> | undefined {
  const item = (e as { Item?: Record<string, AttributeValue> }).Item;
  return item ? unmarshall(item) : undefined;
}
