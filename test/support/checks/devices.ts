/**
 * registerDevice, listDevices and removeDevice: the contract's device registry rules that live in
 * the core (the team rules, the limit, a token moving, what a listing shows), checked on any World.
 */
import { describe, expect, it } from '@jest/globals';
import { iso } from '../../../functions/core/clock.js';
import { listDevices, MAX_DEVICES_PER_USER, registerDevice, removeDevice } from '../../../functions/core/devices.js';
import { TeamRequiredError, TooManyDevicesError, UnknownTeamError } from '../../../functions/core/errors.js';
import { BUNDLE, newToken, TEAM_ID } from '../contract-helpers.js';
import type { MakeWorld, World } from '../fakes/world.js';
import { inlineDevice, registration, ring, ringRequest, signed } from './kit.js';

const register = (w: World, userId: string, deviceId: string, reg = registration(newToken())) =>
  registerDevice(w.deps, signed(w), userId, deviceId, reg);
const idsOf = async (w: World, userId: string) => (await listDevices(w.deps, w.tenant, userId)).map((d) => d.deviceId);

export function describeDevices(name: string, make: MakeWorld): void {
  describe(`device registry use cases (${name})`, () => {
    it('registers a device (created) and replaces it (not created); the answer is the device as listed, never its token', async () => {
      const w = make();
      const token = newToken().toUpperCase();
      const first = await register(w, 'alice', 'phone', registration(token, { environment: 'production' }));
      expect(first).toEqual({
        created: true,
        device: {
          deviceId: 'phone',
          platform: 'ios',
          bundleId: BUNDLE,
          environment: 'production',
          pushType: 'voip',
          tokenSuffix: token.slice(-8).toLowerCase(),
          updatedAt: iso(w.clock.now()),
        },
      });
      expect(await listDevices(w.deps, w.tenant, 'alice')).toEqual([first.device]);
      w.clock.advance(1000);
      const second = await register(w, 'alice', 'phone', registration(newToken(), { pushType: 'alert' }));
      expect(second.created).toBe(false);
      expect(second.device).toMatchObject({ pushType: 'alert', environment: 'sandbox', updatedAt: iso(w.clock.now()) });
      expect(await listDevices(w.deps, w.tenant, 'alice')).toEqual([second.device]);
      expect(JSON.stringify(await listDevices(w.deps, w.tenant, 'alice'))).not.toContain(
        token.toLowerCase().slice(0, 56),
      );
    });

    it('stores the token in lower case: a ring pushes it so, and the same token in either case is one device', async () => {
      const w = make();
      const token = newToken();
      await register(w, 'alice', 'old', registration(token.toUpperCase()));
      await register(w, 'alice', 'new', registration(token));
      expect(await idsOf(w, 'alice')).toEqual(['new']);
      await ring(w, ringRequest({ to: { userId: 'alice' } }));
      expect(w.pusher.sent.map((p) => p.request.pushToken)).toEqual([token]);
    });

    describe('the Apple team', () => {
      it('absent with one team configured: that team', async () => {
        const w = make({ teams: ['ONLYTEAM01'] });
        const token = newToken();
        await register(w, 'alice', 'phone', registration(token));
        await ring(w, ringRequest({ to: { userId: 'alice' } }));
        expect(w.pusher.sent.map((p) => p.request.teamId)).toEqual(['ONLYTEAM01']);
      });

      it('given and configured: that team, when several are', async () => {
        const w = make({ teams: [TEAM_ID, 'OTHERTEAM9'] });
        await register(w, 'alice', 'phone', registration(newToken(), { teamId: 'OTHERTEAM9' }));
        await ring(w, ringRequest({ to: { userId: 'alice' } }));
        expect(w.pusher.sent.map((p) => p.request.teamId)).toEqual(['OTHERTEAM9']);
      });

      it('absent with several teams configured: TeamRequiredError, nothing stored', async () => {
        const w = make({ teams: [TEAM_ID, 'OTHERTEAM9'] });
        await expect(register(w, 'alice', 'phone')).rejects.toBeInstanceOf(TeamRequiredError);
        expect(await idsOf(w, 'alice')).toEqual([]);
      });

      it('not configured, or none configured at all: UnknownTeamError, nothing stored', async () => {
        const w = make();
        await expect(
          register(w, 'alice', 'phone', registration(newToken(), { teamId: 'NOTCONFIG7' })),
        ).rejects.toBeInstanceOf(UnknownTeamError);
        const none = make({ teams: [] });
        await expect(register(none, 'alice', 'phone')).rejects.toBeInstanceOf(UnknownTeamError);
        expect(await idsOf(w, 'alice')).toEqual([]);
        expect(await idsOf(none, 'alice')).toEqual([]);
      });
    });

    it(`at most ${MAX_DEVICES_PER_USER} devices a user: one more is TooManyDevicesError and changes nothing`, async () => {
      const w = make();
      expect(MAX_DEVICES_PER_USER).toBe(20);
      for (let i = 0; i < 20; i++) await register(w, 'alice', `d${String(i).padStart(2, '0')}`);
      const before = await listDevices(w.deps, w.tenant, 'alice');
      const e = register(w, 'alice', 'd20');
      await expect(e).rejects.toBeInstanceOf(TooManyDevicesError);
      await expect(e).rejects.toMatchObject({ limit: 20 });
      expect(await listDevices(w.deps, w.tenant, 'alice')).toEqual(before);
      expect((await register(w, 'alice', 'd07')).created).toBe(false);
      expect((await register(w, 'bob', 'd20')).created).toBe(true);
    });

    it('a token registered under another deviceId moves there: a reinstalled app leaves no twin, in any user of the tenant', async () => {
      const w = make();
      const token = newToken();
      await register(w, 'bob', 'bobs-old-install', registration(token));
      await register(w, 'bob', 'bobs-tablet');
      await register(w, 'alice', 'new-install', registration(token));
      expect(await idsOf(w, 'bob')).toEqual(['bobs-tablet']);
      expect(await idsOf(w, 'alice')).toEqual(['new-install']);
      const other = { ...w, tenant: `${w.tenant}-other` };
      await register(other, 'carol', 'phone', registration(token));
      expect(await idsOf(w, 'alice')).toEqual(['new-install']);
      const r = await ring(w, ringRequest({ to: { userId: 'alice' }, devices: [inlineDevice(token)] }));
      expect(r.answer.deliveries.map((d) => d.deviceId)).toEqual(['new-install']);
    });

    it('lists by deviceId; removing is idempotent, and a removed device is not rung', async () => {
      const w = make();
      const tokens = { b: newToken(), a: newToken(), c: newToken() };
      for (const [id, t] of Object.entries(tokens)) await register(w, 'alice', id, registration(t));
      expect(await idsOf(w, 'alice')).toEqual(['a', 'b', 'c']);
      await removeDevice(w.deps, signed(w), 'alice', 'b');
      await removeDevice(w.deps, signed(w), 'alice', 'b');
      await removeDevice(w.deps, signed(w), 'nobody', 'b');
      expect(await idsOf(w, 'alice')).toEqual(['a', 'c']);
      await ring(w, ringRequest({ to: { userId: 'alice' } }));
      expect(w.pusher.sentTo(tokens.b)).toHaveLength(0);
      expect(w.pusher.sent).toHaveLength(2);
    });
  });
}
