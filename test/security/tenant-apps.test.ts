import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BUNDLE,
  deviceBody,
  expectProblem,
  inline,
  newToken,
  TEAM_ID,
  uniqueCallId,
  writesNothing,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Finding 2 (medium): any tenant could push to any configured Apple team and app, given a push
 * token (every SIP hop that sees REGISTER reads it): a second tenant rang another tenant's app
 * with caller "Your Bank". And `unknown_team` told a tenant which teams exist. Here acme is bound
 * to its app and globex to another bundle of the same team: each attack is globex's.
 */
let t: TestStack;
const ACME_APP = { teamId: TEAM_ID, bundleId: BUNDLE };
const GLOBEX_APP = { teamId: TEAM_ID, bundleId: 'com.globex.phone' };

beforeAll(async () => {
  t = await startTestStack({ apps: { acme: [ACME_APP], globex: [GLOBEX_APP] } });
});
afterAll(async () => t.stop());

describe('a tenant bound to its apps', () => {
  it('cannot register a device of another tenant’s app: 400 app_not_allowed, nothing written', async () => {
    const r = await writesNothing(t, () =>
      t.other.putDevice('victim', 'phone', deviceBody(newToken(), { teamId: TEAM_ID })),
    );
    expectProblem(r, 400, 'app_not_allowed');
  });

  it('cannot ring another tenant’s app through an inline device: failed AppNotAllowed, nothing pushed', async () => {
    const token = newToken();
    const r = await t.other.ring({
      callId: uniqueCallId(),
      from: { number: '+15550000000', displayName: 'Your Bank' },
      devices: [inline(token)],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      status: 'unreachable',
      deliveries: [{ result: 'failed', reason: 'AppNotAllowed' }],
    });
    expect(t.sim.pushesFor(token)).toEqual([]);
  });

  it('learns nothing of which teams exist: an unknown team is app_not_allowed too', async () => {
    for (const teamId of ['NOSUCHTEAM', TEAM_ID]) {
      const r = await t.other.putDevice('probe', 'phone', deviceBody(newToken(), { teamId }));
      expectProblem(r, 400, 'app_not_allowed');
    }
    const inlineProbe = await t.other.ring({
      callId: uniqueCallId(),
      from: { number: '+1' },
      devices: [inline(newToken(), `NOSUCHTEAM.${BUNDLE}.voip`)],
    });
    expect(inlineProbe.body.deliveries[0].reason).toBe('AppNotAllowed');
  });

  it('still registers and rings its own app (the team may be left out when its apps say it)', async () => {
    const token = newToken();
    expect((await t.other.putDevice('own', 'phone', deviceBody(token, { bundleId: GLOBEX_APP.bundleId }))).status).toBe(
      201,
    );
    const r = await t.other.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: 'own' } });
    expect(r.body.deliveries).toEqual([expect.objectContaining({ result: 'sent' })]);
    expect((await t.pbx.putDevice('own', 'phone', deviceBody(newToken()))).status).toBe(201);
  });
});
