/**
 * Just enough of a DynamoDB document client, in memory, to run the real registry and webhook
 * adapters (DynamoDeviceStore, DynamoWebhookStore) in the unit tier: GetItem, PutItem,
 * DeleteItem and TransactWriteItems (Put, Delete) with condition expressions of comparisons
 * (`=`, `<>`, `<`, `<=`, `>`, `>=`), `attribute_exists` / `attribute_not_exists`, `AND`, `OR`,
 * `NOT` and parentheses. A command or expression it does not know throws, so an adapter that
 * starts sending something else fails loudly instead of being half-simulated. Items are copied
 * in and out as JSON (undefined members dropped, as the adapters' client drops them). TTL never
 * deletes anything (DynamoDB deletes late, and a read does not check it).
 */
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';

type Json = any;
type Item = Record<string, unknown>;

const copy = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

class AwsError extends Error {
  constructor(name: string) {
    super(name);
    this.name = name;
  }
}

interface Write {
  kind: 'put' | 'delete';
  table: string;
  key: Item;
  item?: Item;
  condition?: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

export class MemoryDynamo {
  private readonly items = new Map<string, Item>();
  /** Every command sent, by its class name, in order. */
  readonly sent: { command: string; input: Json }[] = [];

  private id(table: string, key: Item): string {
    const { pk, sk } = key as { pk?: unknown; sk?: unknown };
    if (typeof pk !== 'string' || typeof sk !== 'string')
      throw new Error(`a key needs pk and sk: ${JSON.stringify(key)}`);
    return JSON.stringify([table, pk, sk]);
  }

  /** The stored item (a copy), as a test inspects it. */
  item(table: string, key: { pk: string; sk: string }): Item | undefined {
    return copy(this.items.get(this.id(table, key)));
  }

  async send(command: unknown): Promise<Json> {
    const input = (command as { input: Json }).input;
    this.sent.push({ command: (command as object).constructor.name, input: copy(input) });
    if (command instanceof GetCommand) {
      const item = this.items.get(this.id(input.TableName, input.Key));
      return { Item: copy(item) };
    }
    if (command instanceof PutCommand || command instanceof DeleteCommand) {
      const write = writeOf(command instanceof PutCommand ? 'put' : 'delete', input);
      if (!this.holds(write)) throw new AwsError('ConditionalCheckFailedException');
      this.apply(write);
      return {};
    }
    if (command instanceof TransactWriteCommand) {
      const writes = (input.TransactItems as Json[]).map((t) => {
        if (t.Put) return writeOf('put', t.Put);
        if (t.Delete) return writeOf('delete', t.Delete);
        throw new Error(`transaction item not simulated: ${Object.keys(t).join(', ')}`);
      });
      const ids = writes.map((w) => this.id(w.table, w.key));
      if (new Set(ids).size !== ids.length) throw new AwsError('ValidationException');
      if (!writes.every((w) => this.holds(w))) throw new AwsError('TransactionCanceledException');
      for (const w of writes) this.apply(w);
      return {};
    }
    throw new Error(`command not simulated: ${(command as object).constructor.name}`);
  }

  private holds(w: Write): boolean {
    if (w.condition === undefined) return true;
    const current = this.items.get(this.id(w.table, w.key));
    return evaluate(w.condition, current, w.names ?? {}, w.values ?? {});
  }

  private apply(w: Write): void {
    const id = this.id(w.table, w.key);
    if (w.kind === 'delete') this.items.delete(id);
    else this.items.set(id, copy(w.item!));
  }
}

function writeOf(kind: 'put' | 'delete', input: Json): Write {
  const item = kind === 'put' ? (input.Item as Item) : undefined;
  return {
    kind,
    table: input.TableName,
    key: item ? { pk: item.pk, sk: item.sk } : input.Key,
    ...(item ? { item } : {}),
    ...(input.ConditionExpression ? { condition: input.ConditionExpression } : {}),
    ...(input.ExpressionAttributeNames ? { names: input.ExpressionAttributeNames } : {}),
    ...(input.ExpressionAttributeValues ? { values: input.ExpressionAttributeValues } : {}),
  };
}

/** A condition expression over the current item (undefined: none). */
function evaluate(
  expression: string,
  item: Item | undefined,
  names: Record<string, string>,
  values: Record<string, unknown>,
): boolean {
  const tokens = expression.match(/\(|\)|<>|<=|>=|=|<|>|,|[#:]?[A-Za-z_][A-Za-z0-9_]*(?:\.[#A-Za-z_][A-Za-z0-9_]*)*/g);
  if (!tokens || tokens.join('') !== expression.replace(/\s+/g, '')) {
    throw new Error(`condition not simulated: ${expression}`);
  }
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const t = tokens[at++];
    if (t === undefined || (expected !== undefined && t !== expected)) {
      throw new Error(`condition not simulated: ${expression} (at ${t ?? 'the end'})`);
    }
    return t;
  };
  const path = (p: string): unknown => {
    let v: unknown = item;
    for (const part of p.split('.')) {
      const name = part.startsWith('#') ? names[part] : part;
      if (name === undefined) throw new Error(`no name for ${part} in ${expression}`);
      v = v !== null && typeof v === 'object' && Object.hasOwn(v, name) ? (v as Item)[name] : undefined;
    }
    return v;
  };
  const operand = (t: string): unknown => {
    if (t.startsWith(':')) {
      if (!Object.hasOwn(values, t)) throw new Error(`no value for ${t} in ${expression}`);
      return values[t];
    }
    return path(t);
  };
  const compare = (a: unknown, op: string, b: unknown): boolean => {
    if (a === undefined || b === undefined) return op === '<>' && a !== b;
    if (op === '=') return JSON.stringify(a) === JSON.stringify(b);
    if (op === '<>') return JSON.stringify(a) !== JSON.stringify(b);
    if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
    const x = a as number | string;
    const y = b as number | string;
    return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
  };
  const factor = (): boolean => {
    const t = take();
    if (t === 'NOT') return !factor();
    if (t === '(') {
      const v = or();
      take(')');
      return v;
    }
    if (t === 'attribute_exists' || t === 'attribute_not_exists') {
      take('(');
      const v = path(take());
      take(')');
      return (v !== undefined) === (t === 'attribute_exists');
    }
    const op = take();
    if (!['=', '<>', '<', '<=', '>', '>='].includes(op)) throw new Error(`condition not simulated: ${expression}`);
    return compare(operand(t), op, operand(take()));
  };
  const and = (): boolean => {
    let v = factor();
    while (peek() === 'AND') {
      take();
      v = factor() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (peek() === 'OR') {
      take();
      v = and() || v;
    }
    return v;
  };
  const result = or();
  if (at !== tokens.length) throw new Error(`condition not simulated: ${expression}`);
  return result;
}
