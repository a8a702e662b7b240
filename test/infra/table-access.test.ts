/**
 * Exactly what each function may do to the table: the item actions its stores send, each on the
 * items (partition key prefixes) it sends them to, and for app-api and ring-timer the attributes
 * their updates name. The attribute lists are checked against the requests the call store really
 * builds, so a store change that names a new attribute fails here, not with AccessDenied in AWS.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoCallStore } from '../../functions/adapters/dynamo-call-store.js';
import { DynamoLimitStore } from '../../functions/adapters/dynamo-limit-store.js';
import {
  callKey,
  PARTITION_KEY,
  PREFIX,
  providerTokenKey,
  pushTokenOwnerKey,
  rateKey,
  ringingKey,
  SORT_KEY,
  userKey,
  webhookKey,
} from '../../functions/adapters/table-layout.js';
import { APP_API_CALL_ATTRIBUTES, EVENTS_UPDATE_ATTRIBUTES, RING_TIMER_CALL_ATTRIBUTES } from '../../lib/callwake.js';
import {
  actionsOf,
  FUNCTION_NAMES,
  type FunctionName,
  iamStringLikeMatches,
  lambdaFunction,
  onlyItemsUnder,
  onlyResource,
  permissionLines,
  readableNames,
  resourcesOfStatement,
  roleOfFunction,
  type Statement,
  type Synthesized,
  statementsOfRole,
  synthCallwake,
} from './support.js';

let s: Synthesized;
beforeAll(() => {
  s = synthCallwake({ bundle: false });
});

const roleOf = (name: FunctionName): string => roleOfFunction(lambdaFunction(s.template, name)[1]);
const linesOf = (name: FunctionName): string[] => permissionLines(s.template, roleOf(name), readableNames(s.template));
/** The lines of a role on the table's items (not its stream). */
const itemLinesOf = (name: FunctionName): string[] => linesOf(name).filter((l) => / on table\.Arn\b/.test(l));
const under = (...prefixes: string[]): string => JSON.stringify(onlyItemsUnder(...prefixes));
const { call, user, pushToken, providerToken, tenant, rate } = PREFIX;

describe('the item actions each function may send, on the items it sends them to', () => {
  it('pbx-api: its stores (calls, devices, provider token, webhooks) and the tenant limits', () => {
    expect(itemLinesOf('pbx-api')).toEqual(
      [
        `Allow dynamodb:GetItem on table.Arn if ${under(call, user, pushToken, providerToken, tenant)}`,
        `Allow dynamodb:PutItem on table.Arn if ${under(call, user, pushToken, providerToken, tenant)}`,
        `Allow dynamodb:UpdateItem on table.Arn if ${under(call, tenant, rate)}`,
        `Allow dynamodb:DeleteItem on table.Arn if ${under(pushToken)}`,
      ].sort(),
    );
  });

  it('app-api: reads calls, and updates them naming only what confirm, answer and decline name', () => {
    const attributes = [PARTITION_KEY, SORT_KEY, ...APP_API_CALL_ATTRIBUTES.written, ...APP_API_CALL_ATTRIBUTES.tested];
    expect(itemLinesOf('app-api')).toEqual(
      [
        `Allow dynamodb:GetItem on table.Arn if ${under(call)}`,
        `Allow dynamodb:UpdateItem on table.Arn if ${JSON.stringify({
          ...onlyItemsUnder(call),
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': attributes },
        })}`,
      ].sort(),
    );
  });

  it('events: webhooks, the end-of-call alerts (provider token, dead alert tokens), ringing slots given back', () => {
    const attributes = [
      PARTITION_KEY,
      SORT_KEY,
      ...EVENTS_UPDATE_ATTRIBUTES.written,
      ...EVENTS_UPDATE_ATTRIBUTES.tested,
    ];
    expect(itemLinesOf('events')).toEqual(
      [
        `Allow dynamodb:GetItem on table.Arn if ${under(tenant, user, providerToken)}`,
        `Allow dynamodb:PutItem on table.Arn if ${under(user, providerToken)}`,
        `Allow dynamodb:UpdateItem on table.Arn if ${JSON.stringify({
          ...onlyItemsUnder(call, tenant),
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': attributes },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE'] },
        })}`,
      ].sort(),
    );
  });

  it("ring-timer: a read of a call's status alone, and one update naming only what markExpired names, returning nothing", () => {
    const attributes = [
      PARTITION_KEY,
      SORT_KEY,
      ...RING_TIMER_CALL_ATTRIBUTES.written,
      ...RING_TIMER_CALL_ATTRIBUTES.tested,
    ];
    expect(itemLinesOf('ring-timer')).toEqual(
      [
        `Allow dynamodb:GetItem on table.Arn if ${JSON.stringify({
          ...onlyItemsUnder(call),
          'ForAllValues:StringEquals': {
            'dynamodb:Attributes': [PARTITION_KEY, SORT_KEY, ...RING_TIMER_CALL_ATTRIBUTES.read],
          },
          StringEqualsIfExists: { 'dynamodb:Select': ['SPECIFIC_ATTRIBUTES'] },
        })}`,
        `Allow dynamodb:UpdateItem on table.Arn if ${JSON.stringify({
          ...onlyItemsUnder(call),
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': attributes },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE'] },
        })}`,
      ].sort(),
    );
  });

  it('callbacks: nothing of the table', () => {
    expect(linesOf('callbacks').filter((l) => l.includes('dynamodb:'))).toEqual([]);
  });

  it.each(FUNCTION_NAMES)(
    '%s: no table-wide, batch, query or scan action, and no item action without a key condition',
    (name) => {
      const tableId = onlyResource(s.template, 'AWS::DynamoDB::Table')[0];
      for (const st of statementsOfRole(s.template, roleOf(name)) as Statement[]) {
        const onTable = resourcesOfStatement(st).some(
          (r) => JSON.stringify(r) === JSON.stringify({ 'Fn::GetAtt': [tableId, 'Arn'] }),
        );
        if (!onTable) continue;
        for (const action of actionsOf(st)) {
          expect(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']).toContain(
            action,
          );
        }
        expect(st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']).toBeDefined();
      }
    },
  );
});

describe('the leading-key conditions admit the items the code touches, and no others', () => {
  const items = {
    call: callKey('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f'),
    user: userKey('acme', 'alice'),
    pushTokenOwner: pushTokenOwnerKey('acme', 'a1b2c3'),
    providerToken: providerTokenKey('TEAM123456', 'KEY1234567'),
    webhook: webhookKey('acme'),
    ringing: ringingKey('acme'),
    requestWindow: rateKey('acme', 1_700_000_000),
  };
  /** Which items each action of a function's role admits. */
  const admitted = (name: FunctionName): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (const st of statementsOfRole(s.template, roleOf(name))) {
      const patterns = st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[] | undefined;
      if (patterns === undefined) continue;
      for (const action of actionsOf(st)) {
        out[action] = Object.entries(items)
          .filter(([, key]) => patterns.some((p) => iamStringLikeMatches(p, key.pk)))
          .map(([item]) => item)
          .sort();
      }
    }
    return out;
  };

  it('pbx-api', () => {
    expect(admitted('pbx-api')).toEqual({
      'dynamodb:GetItem': ['call', 'pushTokenOwner', 'providerToken', 'ringing', 'user', 'webhook'].sort(),
      'dynamodb:PutItem': ['call', 'pushTokenOwner', 'providerToken', 'ringing', 'user', 'webhook'].sort(),
      'dynamodb:UpdateItem': ['call', 'requestWindow', 'ringing', 'webhook'].sort(),
      'dynamodb:DeleteItem': ['pushTokenOwner'],
    });
  });

  it('app-api and ring-timer: calls only', () => {
    expect(admitted('app-api')).toEqual({ 'dynamodb:GetItem': ['call'], 'dynamodb:UpdateItem': ['call'] });
    expect(admitted('ring-timer')).toEqual({ 'dynamodb:GetItem': ['call'], 'dynamodb:UpdateItem': ['call'] });
  });

  it('events', () => {
    expect(admitted('events')).toEqual({
      'dynamodb:GetItem': ['providerToken', 'ringing', 'user', 'webhook'].sort(),
      'dynamodb:PutItem': ['providerToken', 'user'],
      'dynamodb:UpdateItem': ['call', 'ringing', 'webhook'].sort(),
    });
  });
});

// ---- The attributes the call store's requests name, as IAM's dynamodb:Attributes lists them --

interface SentCommand {
  readonly command: string;
  readonly input: {
    Key?: Record<string, unknown>;
    UpdateExpression?: string;
    ConditionExpression?: string;
    ProjectionExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
    ReturnValues?: string;
  };
}

/**
 * A document client that records what it is sent, each item of a transaction as a request of its
 * own (IAM authorizes them one by one), and answers as if every request succeeded.
 */
function recordingClient(): { doc: DynamoDBDocumentClient; sent: SentCommand[] } {
  const sent: SentCommand[] = [];
  const doc = {
    send: async (command: {
      constructor: { name: string };
      input: SentCommand['input'] & { TransactItems?: unknown[] };
    }) => {
      for (const item of command.input.TransactItems ?? []) {
        const [kind, input] = Object.entries(item as Record<string, SentCommand['input']>)[0] ?? [];
        sent.push({ command: `Transact${kind}`, input: input ?? {} });
      }
      if (command.input.TransactItems === undefined)
        sent.push({ command: command.constructor.name, input: command.input });
      return { Attributes: { ...callKey('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f'), lifetimeEnd: 2e12, devices: {} } };
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, sent };
}

function recordingCallStore(): { store: DynamoCallStore; sent: SentCommand[] } {
  const { doc, sent } = recordingClient();
  return { store: new DynamoCallStore(doc, 'table', { now: () => 1e12 }), sent };
}

const EXPRESSION_FUNCTIONS = new Set([
  'attribute_exists',
  'attribute_not_exists',
  'attribute_type',
  'begins_with',
  'contains',
  'size',
  'if_not_exists',
  'list_append',
]);
const EXPRESSION_KEYWORDS = new Set(['SET', 'REMOVE', 'ADD', 'DELETE', 'AND', 'OR', 'NOT', 'BETWEEN', 'IN']);

/** The top-level attributes an expression names (a document path's first element), aliases resolved. */
function topLevelAttributesOf(expression: string, names: Record<string, string> = {}): string[] {
  const tokens = expression.match(/[:#]?[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\S/g) ?? [];
  const out = new Set<string>();
  tokens.forEach((token, i) => {
    if (!/^[#A-Za-z_]/.test(token)) return; // values, operators, punctuation
    if (tokens[i - 1] === '.') return; // a nested element of a path
    if (!token.startsWith('#') && EXPRESSION_FUNCTIONS.has(token) && tokens[i + 1] === '(') return;
    if (!token.startsWith('#') && EXPRESSION_KEYWORDS.has(token.toUpperCase())) return;
    const name = token.startsWith('#') ? names[token] : token;
    if (name === undefined) throw new Error(`no name for ${token} in ${expression}`);
    out.add(name);
  });
  return [...out];
}

/** What one request names: its key, and the top-level attributes of each of its expressions. */
const attributesNamedBy = ({ input }: SentCommand): string[] => [
  ...Object.keys(input.Key ?? {}),
  ...[input.UpdateExpression, input.ConditionExpression, input.ProjectionExpression].flatMap((e) =>
    e === undefined ? [] : topLevelAttributesOf(e, input.ExpressionAttributeNames),
  ),
];

describe('the attributes the policies allow are the ones the requests name', () => {
  it('reads expressions as DynamoDB does: the first element of each path, aliases resolved', () => {
    expect(
      topLevelAttributesOf('SET #s = :to, devices.#slot.at = if_not_exists(devices.#slot.at, :now) REMOVE a.b[0]', {
        '#s': 'status',
        '#slot': 'x',
      }).sort(),
    ).toEqual(['a', 'devices', 'status']);
    expect(
      topLevelAttributesOf('attribute_exists(pk) AND size(tags) > :n OR NOT begins_with(#n, :p)', { '#n': 'name' }),
    ).toEqual(['pk', 'tags', 'name']);
  });

  it("app-api: confirm, answer and decline name exactly the policy's attributes", async () => {
    const { store, sent } = recordingCallStore();
    await store.confirm('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f', '0', 1e12);
    await store.answer('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f', '0', 1e12);
    await store.decline('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f', '0', 1e12);
    expect(sent.map((c) => c.command)).toEqual(['UpdateCommand', 'UpdateCommand', 'UpdateCommand']);
    const named = new Set(sent.flatMap(attributesNamedBy));
    const allowed = [PARTITION_KEY, SORT_KEY, ...APP_API_CALL_ATTRIBUTES.written, ...APP_API_CALL_ATTRIBUTES.tested];
    expect([...named].sort()).toEqual([...allowed].sort());
    // What they write is the `written` list (and nothing of the key).
    const written = new Set(
      sent.flatMap((c) => topLevelAttributesOf(c.input.UpdateExpression ?? '', c.input.ExpressionAttributeNames)),
    );
    expect([...written].sort()).toEqual([...APP_API_CALL_ATTRIBUTES.written].sort());
  });

  it("events: giving a ringing slot back names exactly the policy's attributes and asks for nothing back", async () => {
    const { doc, sent } = recordingClient();
    await new DynamoLimitStore(doc, 'table').endRinging('acme', '3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f');
    expect(sent.map((c) => c.command)).toEqual(['TransactUpdate', 'TransactUpdate']);
    expect(sent.map((c) => String(c.input.Key?.[PARTITION_KEY]).replace(/#.*/, '#'))).toEqual([call, tenant]);
    const allowed = [PARTITION_KEY, SORT_KEY, ...EVENTS_UPDATE_ATTRIBUTES.written, ...EVENTS_UPDATE_ATTRIBUTES.tested];
    expect([...new Set(sent.flatMap(attributesNamedBy))].sort()).toEqual([...allowed].sort());
    for (const c of sent) expect(['NONE', undefined]).toContain(c.input.ReturnValues);
  });

  it("ring-timer: isRinging reads exactly the policy's attributes (the status), never the caller", async () => {
    const { store, sent } = recordingCallStore();
    await store.isRinging('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f');
    expect(sent.map((c) => c.command)).toEqual(['GetCommand']);
    expect(sent[0]?.input.ProjectionExpression).toBeDefined();
    expect([...new Set(sent.flatMap(attributesNamedBy))].sort()).toEqual(
      [PARTITION_KEY, SORT_KEY, ...RING_TIMER_CALL_ATTRIBUTES.read].sort(),
    );
  });

  it("ring-timer: markExpired names exactly the policy's attributes and asks for nothing back", async () => {
    const { store, sent } = recordingCallStore();
    await store.markExpired('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f', 1e12);
    expect(sent.map((c) => c.command)).toEqual(['UpdateCommand']);
    const allowed = [
      PARTITION_KEY,
      SORT_KEY,
      ...RING_TIMER_CALL_ATTRIBUTES.written,
      ...RING_TIMER_CALL_ATTRIBUTES.tested,
    ];
    expect([...new Set(sent.flatMap(attributesNamedBy))].sort()).toEqual([...allowed].sort());
    expect(['NONE', undefined]).toContain(sent[0]?.input.ReturnValues);
    expect(
      topLevelAttributesOf(sent[0]?.input.UpdateExpression ?? '', sent[0]?.input.ExpressionAttributeNames),
    ).toEqual([...RING_TIMER_CALL_ATTRIBUTES.written]);
  });
});
