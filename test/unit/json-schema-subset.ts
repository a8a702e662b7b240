/**
 * A small JSON Schema (2020-12) validator for the keywords openapi.yaml uses, so the unit tests can
 * check what the code builds (views, events, webhook answers) against the document's schemas
 * without a validator dependency. A keyword it does not know throws instead of being skipped, so
 * a schema is never passed for a constraint nobody checked.
 */

type Json = any;

/** Keywords that only annotate: they never make a value invalid. */
const ANNOTATIONS = new Set([
  'description',
  'title',
  'examples',
  'example',
  'default',
  'discriminator',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$comment',
]);

const FORMATS: Record<string, (s: string) => boolean> = {
  'date-time': (s) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)),
  uuid: (s) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s),
  uri: (s) => URL.canParse(s),
  int64: () => true,
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'object':
      return typeOf(value) === 'object';
    default:
      return typeOf(value) === type;
  }
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );

export class SchemaValidator {
  constructor(private readonly resolve: (ref: string) => Json) {}

  /** The reasons `value` does not match `schema`; empty when it does. */
  errors(schema: Json, value: unknown, at = '$'): string[] {
    if (schema === true) return [];
    if (schema === false) return [`${at}: not allowed`];
    if (schema === null || typeof schema !== 'object') throw new Error(`${at}: not a schema`);
    const out: string[] = [];
    const fail = (why: string) => out.push(`${at}: ${why}`);
    const isObject = typeOf(value) === 'object';
    const isString = typeof value === 'string';
    const isArray = Array.isArray(value);

    for (const [keyword, arg] of Object.entries<Json>(schema)) {
      if (ANNOTATIONS.has(keyword) || keyword.startsWith('x-')) continue;
      switch (keyword) {
        case '$ref':
          out.push(...this.errors(this.resolve(arg), value, at));
          break;
        case 'type': {
          const types: string[] = Array.isArray(arg) ? arg : [arg];
          if (!types.some((t) => hasType(value, t))) fail(`is ${typeOf(value)}, not ${types.join(' or ')}`);
          break;
        }
        case 'enum':
          if (!arg.some((e: unknown) => canonical(e) === canonical(value)))
            fail(`${JSON.stringify(value)} not in enum`);
          break;
        case 'const':
          if (canonical(arg) !== canonical(value)) fail(`is not ${JSON.stringify(arg)}`);
          break;
        case 'required':
          if (isObject) for (const k of arg) if (!Object.hasOwn(value as object, k)) fail(`misses ${k}`);
          break;
        case 'properties':
          if (isObject)
            for (const [k, sub] of Object.entries<Json>(arg))
              if (Object.hasOwn(value as object, k)) out.push(...this.errors(sub, (value as Json)[k], `${at}.${k}`));
          break;
        case 'additionalProperties':
          if (isObject)
            for (const [k, v] of Object.entries(value as object))
              if (!Object.hasOwn(schema.properties ?? {}, k)) out.push(...this.errors(arg, v, `${at}.${k}`));
          break;
        case 'minProperties':
          if (isObject && Object.keys(value as object).length < arg) fail(`fewer than ${arg} members`);
          break;
        case 'maxProperties':
          if (isObject && Object.keys(value as object).length > arg) fail(`more than ${arg} members`);
          break;
        case 'items':
          if (isArray)
            for (const [i, v] of (value as unknown[]).entries()) out.push(...this.errors(arg, v, `${at}[${i}]`));
          break;
        case 'minItems':
          if (isArray && (value as unknown[]).length < arg) fail(`fewer than ${arg} items`);
          break;
        case 'maxItems':
          if (isArray && (value as unknown[]).length > arg) fail(`more than ${arg} items`);
          break;
        case 'uniqueItems':
          if (isArray && arg && new Set((value as unknown[]).map(canonical)).size !== (value as unknown[]).length)
            fail('has duplicate items');
          break;
        case 'minLength':
          if (isString && [...(value as string)].length < arg) fail(`shorter than ${arg}`);
          break;
        case 'maxLength':
          if (isString && [...(value as string)].length > arg) fail(`longer than ${arg}`);
          break;
        case 'pattern':
          if (isString && !new RegExp(arg, 'u').test(value as string)) fail(`does not match ${arg}`);
          break;
        case 'format': {
          const check = FORMATS[arg];
          if (!check) throw new Error(`${at}: unknown format ${arg}`);
          if (isString && !check(value as string)) fail(`is not a ${arg}`);
          break;
        }
        case 'minimum':
          if (typeof value === 'number' && value < arg) fail(`below ${arg}`);
          break;
        case 'maximum':
          if (typeof value === 'number' && value > arg) fail(`above ${arg}`);
          break;
        case 'allOf':
          for (const sub of arg) out.push(...this.errors(sub, value, at));
          break;
        case 'anyOf':
          if (!arg.some((sub: Json) => this.errors(sub, value, at).length === 0)) fail('matches no anyOf branch');
          break;
        case 'oneOf': {
          const n = this.matchingBranches(schema, value).length;
          if (n !== 1) fail(`matches ${n} oneOf branches, not exactly 1`);
          break;
        }
        case 'not':
          if (this.errors(arg, value, at).length === 0) fail('matches its `not`');
          break;
        case 'if':
          if (this.errors(arg, value, at).length === 0) {
            if (schema.then !== undefined) out.push(...this.errors(schema.then, value, at));
          } else if (schema.else !== undefined) out.push(...this.errors(schema.else, value, at));
          break;
        case 'then':
        case 'else':
          break;
        default:
          throw new Error(`${at}: keyword ${keyword} is not supported by this validator`);
      }
    }
    return out;
  }

  /** The indexes of the `oneOf` branches of `schema` that `value` matches. */
  matchingBranches(schema: Json, value: unknown): number[] {
    return (schema.oneOf as Json[]).flatMap((sub, i) => (this.errors(sub, value).length === 0 ? [i] : []));
  }
}
