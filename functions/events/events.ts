import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { changesOfRecords } from '../adapters/stream-changes.js';
import { type DispatchDeps, dispatchChanges } from '../core/dispatch-events.js';

export interface EventsFunctionDeps extends DispatchDeps {
  /** Stream records that are not changes of ours: kept for a person to look at, never retried. */
  unreadable(records: readonly DynamoDBRecord[]): Promise<void>;
}

/**
 * The events function, deployed (the table's stream through Lambda) and local (`npm start`
 * reads DynamoDB Local's stream and calls this same handler). A failure throws, and the batch is
 * retried (bisected, a bounded number of times, then sent to the on-failure destination).
 */
export const createEventsHandler =
  (deps: () => Promise<EventsFunctionDeps>) =>
  async (event: DynamoDBStreamEvent): Promise<void> => {
    const d = await deps();
    const { changes, unreadable } = changesOfRecords(event.Records ?? []);
    if (unreadable.length > 0) {
      d.log.error('stream records that are not changes of ours, dead-lettered', { count: unreadable.length });
      await d.unreadable(unreadable);
    }
    await dispatchChanges(d, changes);
  };
