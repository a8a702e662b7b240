/**
 * API Gateway HTTP APIs hand the Lambda a percent-DECODED `rawPath` (REST APIs and function URLs
 * do not). The contract's ids exclude `/`, `?`, `#`, `.` and `..` so a decoded path still splits
 * into the same segments; a `%2F` cannot be decoded into a segment, so it stays encoded and the
 * router reads it as the `/` the id may not contain.
 */

/** What API Gateway does to a path before the Lambda sees it (the local front does the same). */
export function decodePathLikeApiGateway(rawPath: string): string {
  return rawPath.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
    run
      .split(/(%2[Ff])/)
      .map((part) =>
        /^%2[Ff]$/.test(part) || part === '' ? part : Buffer.from(part.replace(/%/g, ''), 'hex').toString('utf8'),
      )
      .join(''),
  );
}

/** A segment of a decoded path as the id it names. */
export const segmentValue = (segment: string): string => segment.replace(/%2F/gi, '/');

const hex = (c: string, lower: boolean) =>
  [...Buffer.from(c, 'utf8')]
    .map((b) => `%${b.toString(16).padStart(2, '0')}`)
    .map((s) => (lower ? s : s.toUpperCase()))
    .join('');

const encodeWith = (keep: RegExp, lower: boolean) => (segment: string) =>
  Array.from(segmentValue(segment), (c) => (keep.test(c) ? c : hex(c, lower))).join('');

/** RFC 3986 unreserved only (Python's quote(safe=''), Java's URI-builder style). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** JavaScript's encodeURIComponent. */
const URI_COMPONENT = /^[A-Za-z0-9\-._~!*'()]$/;
/** Only what a path segment must encode (pchar: Go's url.PathEscape and most HTTP clients). */
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
/**
 * The WHATWG URL parser's path set (`new URL()`, fetch, browsers): printable ASCII is kept but for
 * `"`, `#`, `<`, `>`, `?`, a backtick, `{` and `}`; a client that signs `url.pathname` signs this.
 */
const WHATWG_PATH = /^[!$-;=@-_a-z|~]$/;
/** Java's URLEncoder (which also encodes `~`). */
const JAVA = /^[A-Za-z0-9\-._*]$/;
/** Everything but letters and digits; and everything at all. */
const ALNUM = /^[A-Za-z0-9]$/;
const NOTHING = /^$/;

/**
 * The ways a client may have percent-encoded a path whose decoded form we were given (each
 * encoder applied to every segment; a mix of encoders within one path is not recognised): a PBX
 * signs the path exactly as it sent it, and the decoded path no longer says which encoding
 * that was. Only spellings that decode back to this very path count: a signature made for
 * `…abc%40pbx…` (the callId `abc@pbx`) must never pass for `…abc%2540pbx…` (the callId
 * `abc%40pbx`, which the unencoded spelling of that id would otherwise also produce).
 */
export function pathSpellings(decodedPath: string, paramSegments?: ReadonlySet<number>): string[] {
  const segments = decodedPath.split('/');
  // A client encodes the ids it puts in a path, not the route's own words.
  const encodes = (i: number) => paramSegments === undefined || paramSegments.has(i);
  const spellings = new Set<string>([decodedPath]);
  for (const keep of [UNRESERVED, URI_COMPONENT, PCHAR, WHATWG_PATH, JAVA, ALNUM, NOTHING]) {
    for (const lower of [false, true]) {
      const encode = encodeWith(keep, lower);
      spellings.add(segments.map((s, i) => (encodes(i) ? encode(s) : s)).join('/'));
    }
  }
  return [...spellings].filter((s) => decodePathLikeApiGateway(s) === decodedPath);
}
