import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { Log } from '../functions/core/ports.js';

/** After this many failed tries a batch is skipped, as the deployed event source mapping does. */
const MAX_BATCH_ATTEMPTS = 5;
const RETRY_PAUSE_MS = 200;
const SHARD_REFRESH_MS = 1000;
/**
 * No read may hold the loop: a request to DynamoDB Local that never answers (seen on reused
 * sockets under load) is abandoned and tried again, instead of stopping every event for good.
 */
const REQUEST_TIMEOUT_MS = 5000;
const bounded = () => ({ abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

/**
 * What Lambda's event source mapping does for the table's stream, against DynamoDB Local: read
 * each shard in order and hand its records, as a stream event, to the events handler. A batch the
 * handler fails is retried, then skipped (logged), so a bad batch never blocks the shard forever.
 */
export class LocalStreamPoller {
  private readonly client: DynamoDBStreamsClient;
  /** Open shards and where reading goes on in each. */
  private readonly iterators = new Map<string, string | undefined>();
  private readonly known = new Set<string>();
  /** The last record handed over from each shard: where reading resumes if its iterator expires. */
  private readonly lastSequence = new Map<string, string>();
  private running = false;
  private loop: Promise<void> | undefined;
  private lastRefresh = 0;
  /** Batches handed to the handler and finished: tests wait for the stream to be read. */
  handled = 0;

  constructor(
    endpoint: string,
    private readonly streamArn: string,
    private readonly handler: (event: DynamoDBStreamEvent) => Promise<void>,
    private readonly log: Log,
    private readonly idleMs = 50,
  ) {
    this.client = new DynamoDBStreamsClient({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }

  /** Starts at the stream's end: what happened before `npm start` is not news. */
  async start(): Promise<void> {
    await this.refreshShards('LATEST');
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.client.destroy();
  }

  private async run() {
    while (this.running) {
      let busy = false;
      try {
        if (Date.now() - this.lastRefresh > SHARD_REFRESH_MS) await this.refreshShards('TRIM_HORIZON');
        for (const shardId of [...this.iterators.keys()]) busy = (await this.readShard(shardId)) || busy;
      } catch (e) {
        if (this.running)
          this.log.warn('local stream read failed; trying again', {
            error: (e as Error)?.name,
            message: (e as Error)?.message,
          });
      }
      if (!busy) await new Promise((r) => setTimeout(r, this.idleMs));
    }
  }

  /** Shards found later (DynamoDB rolls them) are read from their start. */
  private async refreshShards(position: 'LATEST' | 'TRIM_HORIZON') {
    this.lastRefresh = Date.now();
    const out = await this.client.send(new DescribeStreamCommand({ StreamArn: this.streamArn }), bounded());
    for (const shard of out.StreamDescription?.Shards ?? []) {
      const id = shard.ShardId!;
      if (this.known.has(id)) continue;
      const it = await this.client.send(
        new GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: id, ShardIteratorType: position }),
        bounded(),
      );
      // Known only once it has an iterator: a refused GetShardIterator is tried again next round,
      // rather than leaving the shard unread for good.
      this.iterators.set(id, it.ShardIterator);
      this.known.add(id);
    }
  }

  /** Reads one batch of a shard and hands it over; true when there were records. */
  private async readShard(shardId: string): Promise<boolean> {
    const iterator = this.iterators.get(shardId);
    if (iterator === undefined) {
      this.iterators.delete(shardId); // a closed shard, read to its end
      return false;
    }
    let out: GetRecordsCommandOutput;
    try {
      out = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 100 }), bounded());
    } catch (e) {
      if ((e as Error)?.name !== 'ExpiredIteratorException') throw e;
      // An iterator is good for 15 minutes: carry on after the last record handed over (none
      // since this iterator was taken means none came: LATEST misses nothing, and replays nothing).
      const last = this.lastSequence.get(shardId);
      const it = await this.client.send(
        new GetShardIteratorCommand({
          StreamArn: this.streamArn,
          ShardId: shardId,
          ...(last
            ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: last }
            : { ShardIteratorType: 'LATEST' }),
        }),
        bounded(),
      );
      this.iterators.set(shardId, it.ShardIterator);
      return false;
    }
    const raw = out.Records ?? [];
    if (raw.length > 0) {
      await this.hand(raw.map(lambdaRecordOf));
      const last = raw[raw.length - 1]?.dynamodb?.SequenceNumber;
      if (last) this.lastSequence.set(shardId, last);
    }
    this.iterators.set(shardId, out.NextShardIterator);
    return raw.length > 0;
  }

  private async hand(records: DynamoDBRecord[]) {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handler({ Records: records });
        this.handled++;
        return;
      } catch (e) {
        if (attempt >= MAX_BATCH_ATTEMPTS || !this.running) {
          this.log.error('events handler failed a stream batch; skipped', {
            records: records.length,
            attempts: attempt,
          });
          return;
        }
        this.log.warn('events handler failed a stream batch; retrying', { error: (e as Error)?.name, attempt });
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS * attempt));
      }
    }
  }
}

type Image = Record<string, unknown>;

/**
 * The SDK's Streams client reads an empty map (`{"M": {}}`) as `{}` (seen with DynamoDB Local,
 * while `{"L": []}` survives); Lambda hands over the JSON as sent, so put the `M` back.
 */
function withEmptyMaps(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(withEmptyMaps);
  const entries = Object.entries(value);
  if (entries.length === 0) return { M: {} };
  return Object.fromEntries(entries.map(([k, v]) => [k, withEmptyMaps(v)]));
}

const imageOf = (image: unknown): Image | undefined =>
  image === undefined
    ? undefined
    : (Object.fromEntries(Object.entries(image as Image).map(([k, v]) => [k, withEmptyMaps(v)])) as Image);

/** A Streams API record as Lambda delivers it (creation time in epoch seconds). */
function lambdaRecordOf(r: _Record): DynamoDBRecord {
  const { ApproximateCreationDateTime, NewImage, OldImage, ...rest } = r.dynamodb ?? {};
  return {
    ...(r as unknown as DynamoDBRecord),
    dynamodb: {
      ...(rest as DynamoDBRecord['dynamodb']),
      ...(NewImage ? { NewImage: imageOf(NewImage) as never } : {}),
      ...(OldImage ? { OldImage: imageOf(OldImage) as never } : {}),
      ...(ApproximateCreationDateTime
        ? { ApproximateCreationDateTime: ApproximateCreationDateTime.getTime() / 1000 }
        : {}),
    },
  };
}
