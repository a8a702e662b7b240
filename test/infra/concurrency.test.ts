/**
 * Reserved concurrency: app-api, which carries the answers, has executions of its own that pbx-api
 * cannot take; pbx-api is capped, so a slow APNs (its executions held until APNs answers, PBXs'
 * held reads) cannot use up the account's; together they fit the default quota of 1,000 with
 * Lambda's 100 unreserved. Each function's is a prop (and a context key); `none` reserves nothing.
 */
import { API_FUNCTION_TIMEOUT_SECONDS } from '../../functions/config.js';
import {
  APP_API_RESERVED_CONCURRENCY,
  CALLBACKS_MAX_CONCURRENCY,
  LAMBDA_MIN_UNRESERVED_CONCURRENCY,
  PBX_API_RESERVED_CONCURRENCY,
} from '../../lib/callwake.js';
import {
  type CfnResource,
  FUNCTION_NAMES,
  type FunctionName,
  lambdaFunction,
  referencedId,
  resourceIdAt,
  resourcesOf,
  type Synthesized,
  synthCallwake,
} from './support.js';

/** The concurrent executions a region of an account has unless raised. */
const DEFAULT_ACCOUNT_QUOTA = 1000;

const reservedOf = (sy: Synthesized, name: FunctionName): unknown =>
  lambdaFunction(sy.template, name)[1].Properties?.['ReservedConcurrentExecutions'];
const queueMapping = (sy: Synthesized, queue: string): CfnResource | undefined => {
  const queueId = resourceIdAt(sy.template, 'AWS::SQS::Queue', `${queue}/Resource`);
  return Object.values(resourcesOf(sy.template, 'AWS::Lambda::EventSourceMapping')).find(
    (m) => referencedId(m.Properties?.['EventSourceArn']) === queueId,
  );
};

describe('by default', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({ bundle: false });
  });

  it('reserves 400 for app-api and 300 for pbx-api (also their ceilings), nothing for the events path', () => {
    expect(Object.fromEntries(FUNCTION_NAMES.map((n) => [n, reservedOf(s, n)]))).toEqual({
      'pbx-api': 300,
      'app-api': 400,
      events: undefined,
      callbacks: undefined,
      'ring-timer': undefined,
    });
    expect([PBX_API_RESERVED_CONCURRENCY, APP_API_RESERVED_CONCURRENCY]).toEqual([300, 400]);
  });

  it("fits the default quota of 1,000 with Lambda's 100 unreserved, and leaves the events path more than it can use", () => {
    const reserved = FUNCTION_NAMES.reduce((sum, n) => sum + Number(reservedOf(s, n) ?? 0), 0);
    expect(reserved + LAMBDA_MIN_UNRESERVED_CONCURRENCY).toBeLessThanOrEqual(DEFAULT_ACCOUNT_QUOTA);
    // The callbacks' queue is polled with at most 20 at once, the stream with one per shard.
    expect(DEFAULT_ACCOUNT_QUOTA - reserved).toBeGreaterThan(CALLBACKS_MAX_CONCURRENCY * 10);
  });

  it('gives app-api more than pbx-api: every ring wakes each device, and each holds a read up to 20 s', () => {
    expect(Number(reservedOf(s, 'app-api'))).toBeGreaterThan(Number(reservedOf(s, 'pbx-api')));
    // A held request keeps its execution for up to the functions' timeout: what the reservations must carry.
    expect(API_FUNCTION_TIMEOUT_SECONDS).toBeGreaterThanOrEqual(20);
  });

  it('leaves the ring-timer queue polled as Lambda scales it (no reservation to stay under)', () => {
    expect(queueMapping(s, 'RingTimerQueue')?.Properties?.['ScalingConfig']).toBeUndefined();
    expect(queueMapping(s, 'CallbackQueue')?.Properties?.['ScalingConfig']).toEqual({
      MaximumConcurrency: CALLBACKS_MAX_CONCURRENCY,
    });
  });
});

describe('set by the operator', () => {
  it('takes each function its own value from context, and none for "none" or false', () => {
    const s = synthCallwake({
      bundle: false,
      context: {
        pbxApiReservedConcurrency: 'none',
        appApiReservedConcurrency: '150',
        eventsReservedConcurrency: 4,
        callbacksReservedConcurrency: '25',
        ringTimerReservedConcurrency: '30',
      },
    });
    expect(Object.fromEntries(FUNCTION_NAMES.map((n) => [n, reservedOf(s, n)]))).toEqual({
      'pbx-api': undefined,
      'app-api': 150,
      events: 4,
      callbacks: 25,
      'ring-timer': 30,
    });
    // The ring timers' queue is then polled with no more than the function may run.
    expect(queueMapping(s, 'RingTimerQueue')?.Properties?.['ScalingConfig']).toEqual({ MaximumConcurrency: 30 });
  });

  it('takes props given in code, false for none', () => {
    const s = synthCallwake({
      bundle: false,
      props: { callwake: { pbxApiReservedConcurrency: false, appApiReservedConcurrency: false } },
    });
    for (const n of FUNCTION_NAMES) expect([n, reservedOf(s, n)]).toEqual([n, undefined]);
  });

  it.each([
    [{ pbxApiReservedConcurrency: '0' }, /pbxApiReservedConcurrency must be a positive integer or false/],
    [{ appApiReservedConcurrency: '12.5' }, /appApiReservedConcurrency/],
    [{ eventsReservedConcurrency: 'lots' }, /eventsReservedConcurrency/],
    [{ callbacksReservedConcurrency: '10' }, /callbacksReservedConcurrency must be at least .*\(20\)/],
    [{ ringTimerReservedConcurrency: '1' }, /ringTimerReservedConcurrency must be at least 2/],
  ])('refuses %j', (context, message) => {
    expect(() => synthCallwake({ bundle: false, context })).toThrow(message);
  });
});
