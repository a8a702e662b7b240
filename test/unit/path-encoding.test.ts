import { describe, expect, it } from '@jest/globals';
import { decodePathLikeApiGateway, pathSpellings, segmentValue } from '../../functions/http/path-encoding.js';

describe('paths as API Gateway hands them over', () => {
  it('decodes percent-encoding, UTF-8 included, but keeps %2F so segments stay whole', () => {
    expect(decodePathLikeApiGateway('/v1/pbx/calls/a%40pbx.example.com/cancel')).toBe(
      '/v1/pbx/calls/a@pbx.example.com/cancel',
    );
    expect(decodePathLikeApiGateway('/v1/pbx/calls/%C3%A9t%C3%A9')).toBe('/v1/pbx/calls/été');
    expect(decodePathLikeApiGateway('/v1/pbx/calls/a%2Fb%2fc/cancel')).toBe('/v1/pbx/calls/a%2Fb%2fc/cancel');
    expect(decodePathLikeApiGateway('/v1/pbx/calls/50%25off')).toBe('/v1/pbx/calls/50%off');
    expect(decodePathLikeApiGateway('/v1/pbx/calls/bad%zz')).toBe('/v1/pbx/calls/bad%zz');
    expect(segmentValue('a%2Fb%2fc')).toBe('a/b/c');
  });

  it('spells a decoded path the ways common clients encode it', () => {
    const spellings = pathSpellings("/v1/pbx/calls/a84b@pbx.example.com:5060!x'(y)*+z$/cancel");
    expect(spellings).toContain(`/v1/pbx/calls/${encodeURIComponent("a84b@pbx.example.com:5060!x'(y)*+z$")}/cancel`);
    expect(spellings).toContain("/v1/pbx/calls/a84b@pbx.example.com:5060!x'(y)*+z$/cancel");
    expect(spellings).toContain('/v1/pbx/calls/a84b%40pbx.example.com%3A5060%21x%27%28y%29%2A%2Bz%24/cancel');
    expect(spellings).toContain('/v1/pbx/calls/a84b%40pbx.example.com%3a5060%21x%27%28y%29%2a%2bz%24/cancel');
    // What fetch and new URL() send (and `url.pathname` says): `"` `<` `>` `{` `}` and a backtick encoded, `|` `[` `]` `^` not.
    const odd = 'a"b|c<d>e{f}g`h[i]^j';
    const whatwg = new URL(`http://h/v1/pbx/calls/${odd}/cancel`).pathname;
    expect(whatwg).toBe('/v1/pbx/calls/a%22b|c%3Cd%3Ee%7Bf%7Dg%60h[i]^j/cancel');
    expect(pathSpellings(decodePathLikeApiGateway(whatwg), new Set([4]))).toContain(whatwg);
    expect(pathSpellings('/v1/pbx/calls/50%off')).toContain('/v1/pbx/calls/50%25off');
    expect(pathSpellings('/v1/pbx/calls', new Set())).toEqual(['/v1/pbx/calls']);
    expect(pathSpellings('/v1/pbx/calls/ab/cancel', new Set([4]))).toContain('/v1/pbx/calls/%61%62/cancel');
    expect(pathSpellings('/v1/pbx/calls/ab/cancel', new Set([4]))).not.toContain('/%76%31/pbx/calls/%61%62/cancel');
  });
});
