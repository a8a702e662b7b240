import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { type CallbackDeps, deliverCallback } from '../core/deliver-callback.js';
import type { CallbackDelivery } from '../core/ports.js';

/** What a batch could not settle: SQS makes these visible again (and redrives them in the end). */
export interface BatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

function deliveryOf(record: SQSRecord): CallbackDelivery {
  const d = JSON.parse(record.body) as CallbackDelivery;
  if (typeof d?.tenantId !== 'string' || typeof d.url !== 'string' || typeof d.event?.id !== 'string') {
    throw new Error('not a callback delivery');
  }
  return d;
}

/**
 * The callback function (deployed: the callback queue through Lambda; local: the in-memory
 * queue calls this same handler). Every delivery of a batch runs at once, so a receiver that
 * hangs costs only its own attempt's time, never another tenant's delivery.
 */
export const createCallbackHandler =
  (deps: () => Promise<CallbackDeps>) =>
  async (event: SQSEvent): Promise<BatchResult> => {
    const d = await deps();
    const failed: string[] = [];
    await Promise.all(
      (event.Records ?? []).map(async (record) => {
        try {
          await deliverCallback(d, deliveryOf(record));
        } catch (e) {
          d.log.error('callback delivery not settled; SQS will offer it again', { error: (e as Error)?.name });
          failed.push(record.messageId);
        }
      }),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
