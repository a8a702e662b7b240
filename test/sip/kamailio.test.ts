/**
 * End to end with real SIP: Kamailio running examples/kamailio/kamailio.cfg, SIPp as the caller
 * and as the phone's SIP stack, callwake (npm start's stack: DynamoDB Local, the APNs simulator,
 * the events path with its callbacks) and a phone simulator that registers with RFC 8599 push
 * parameters, sleeps, is woken by the VoIP push, talks to the app API, then registers and answers.
 *
 * Each scenario asserts the caller's final SIP response and when it came, the call's final state
 * in callwake (the PBX view), and what the phone saw (its push, its app view).
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { Phone } from './phone.js';
import {
  BACKSTOP_SECONDS,
  freeUdpPort,
  missingTools,
  RING_SECONDS,
  type Sipp,
  type SipWorld,
  startSipWorld,
  type Traced,
  waitForWebhook,
} from './support.js';

jest.setTimeout(30_000);

const missing = missingTools();
if (missing.length > 0) {
  throw new Error(
    `test:sip needs ${missing.join(', ')}: apt-get install kamailio kamailio-extra-modules ` +
      'kamailio-tls-modules kamailio-utils-modules sip-tester curl openssl',
  );
}

let world: SipWorld;
let calls = 0;
/** What each scenario measured, printed at the end of the run. */
const measured: string[] = [];
const note = (scenario: string, what: string, ms: number) => {
  measured.push(`${scenario.padEnd(34)} ${what.padEnd(46)} ${String(Math.round(ms)).padStart(6)} ms`);
};

beforeAll(async () => {
  world = await startSipWorld();
}, 90_000);

afterAll(async () => {
  if (measured.length > 0) process.stdout.write(`\nMeasured:\n${measured.join('\n')}\n\n`);
  await world?.stop();
}, 30_000);

/** A caller's INVITE for `user` through Kamailio (its own Call-ID, a display name to escape). */
async function ring(
  user: string,
  o: { scenario?: string; pauseMs?: number; display?: string; from?: string } = {},
): Promise<{ sipp: Sipp; callId: string }> {
  calls += 1;
  const callId = `${calls}-${Date.now()}@caller.test`;
  const sipp = world.sipp({
    scenario: o.scenario ?? 'caller.xml',
    port: await freeUdpPort(),
    target: world.sipTarget,
    service: user,
    callId,
    pauseMs: o.pauseMs ?? 200,
    vars: { from_user: o.from ?? '+15551230000', display: o.display ?? 'Bob Smith' },
    timeoutSeconds: RING_SECONDS + BACKSTOP_SECONDS + 10,
  });
  return { sipp, callId };
}

/** The caller's SIPp run to its end (bounded), and the final response it got. */
async function finalOf(sipp: Sipp, timeoutMs = 20_000): Promise<Traced> {
  const code = await sipp.done(timeoutMs);
  const final = sipp.finalResponse();
  if (code !== 0 || !final) {
    throw new Error(
      `caller: sipp exit ${code}, final ${final?.firstLine}\n${sipp.errors()}\n` +
        world.kamailio.scriptLines().slice(-25).join('\n'),
    );
  }
  return final;
}

const sentAt = (sipp: Sipp, method: string): number => {
  const m = sipp.firstSent(method);
  if (!m) throw new Error(`the caller never sent ${method}`);
  return m.at;
};

/** Provisional responses the caller got before its final one. */
const provisional = (sipp: Sipp): number[] =>
  sipp
    .messages()
    .filter((m) => m.direction === 'received' && m.status !== undefined && m.status < 200)
    .map((m) => m.status!);

const acceptedPushes = (phone: Phone) => world.sim.pushesFor(phone.token).filter((p) => p.status === 200).length;

async function pbxView(callId: string) {
  const r = await world.pbx.view(callId);
  expect(r.status).toBe(200);
  return r.body;
}

/** The PBX view once it is no longer `status` (a held GET, If-None-Match + Prefer: wait), bounded. */
async function pbxViewChangeFrom(callId: string, status: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let r = await world.pbx.view(callId);
  while (r.status === 200 && r.body.status === status && Date.now() < deadline) {
    const etag = r.headers.get('etag') ?? undefined;
    const waitSeconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const next = await world.pbx.view(callId, { ...(etag ? { etag } : {}), waitSeconds });
    if (next.status !== 304) r = next;
  }
  expect(r.status).toBe(200);
  return { view: r.body, at: Date.now() };
}

/** A call to `user` that the woken app declines: the caller's 603 within 300 ms of the decline. */
async function declinedIn300ms(user: string, o: { confirm?: boolean; beforeDecline?: () => Promise<void> } = {}) {
  const phone = new Phone(world, user);
  await phone.register();
  const { sipp, callId } = await ring(user);
  await phone.waitForPush();
  if (o.confirm) expect((await phone.confirm()).body.status).toBe('ringing');
  await o.beforeDecline?.();
  const decline = await phone.decline();
  const declinedAt = Date.now();
  expect(decline.body.status).toBe('declined');
  const final = await finalOf(sipp);
  expect(final.status).toBe(603);
  expect(final.at - declinedAt).toBeLessThan(300);
  return { phone, callId, final, declinedAt };
}

/**
 * An INVITE and its CANCEL sent in one go over UDP (each once), then the ACK for the INVITE's
 * final response: every response, with when it came.
 */
async function inviteAndCancelAtOnce(user: string) {
  calls += 1;
  const callId = `${calls}-${Date.now()}@caller.test`;
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  const [host, sipPort] = world.sipTarget.split(':') as [string, string];
  const branch = `z9hG4bK-${randomUUID()}`;
  const head = (method: string) => [
    `${method} sip:${user}@${world.sipTarget} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`,
    `From: "Bob Smith" <sip:+15551230000@127.0.0.1:${port}>;tag=at-once`,
    `To: <sip:${user}@${world.sipTarget}>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
  ];
  const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
  const invite = [
    ...head('INVITE'),
    `Contact: <sip:+15551230000@127.0.0.1:${port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${sdp.length}`,
    '',
    sdp,
  ].join('\r\n');
  const cancel = [...head('CANCEL'), 'Content-Length: 0', '', ''].join('\r\n');
  const responses: { status: number; cseq: string; at: number; sentAt: number; toTag: string }[] = [];
  const sentAt = Date.now();
  const finalSeen = new Promise<void>((resolve) => {
    socket.on('message', (msg) => {
      const text = msg.toString('utf8');
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1]);
      const cseq = /^CSeq:\s*\d+\s+(\w+)/im.exec(text)?.[1] ?? '';
      const toTag = /^To:.*;tag=([^;\s]+)/im.exec(text)?.[1] ?? '';
      responses.push({ status, cseq, at: Date.now(), sentAt, toTag });
      if (cseq === 'INVITE' && status >= 200) {
        const ack = [
          ...head('ACK').map((l) => (l.startsWith('To:') ? `${l};tag=${toTag}` : l)),
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
        socket.send(ack, Number(sipPort), host);
        resolve();
      }
    });
  });
  socket.send(invite, Number(sipPort), host);
  socket.send(cancel, Number(sipPort), host);
  await Promise.race([finalSeen, new Promise((r) => setTimeout(r, (RING_SECONDS + BACKSTOP_SECONDS + 3) * 1000))]);
  // (a 200 to the CANCEL may come after the 487)
  await new Promise((r) => setTimeout(r, 200));
  socket.close();
  return { callId, responses };
}

describe('Kamailio + callwake, real SIP', () => {
  test('answered: the push wakes the app, it answers, the phone registers and takes the INVITE', async () => {
    const phone = new Phone(world, 'alice');
    await phone.register();
    const { sipp, callId } = await ring('alice', { display: 'Bob \\"The Builder\\" Smith' });

    const push = await phone.waitForPush();
    expect(push.callId).toBe(callId);
    // The display name went through Kamailio's JSON (quoted-pairs undone, quotes escaped).
    expect(push.caller).toEqual({ number: '+15551230000', displayName: 'Bob "The Builder" Smith' });
    const confirmed = await phone.confirm();
    expect(confirmed.body).toMatchObject({ status: 'ringing', caller: { number: '+15551230000' } });
    expect((await phone.answer()).body.status).toBe('answered');

    const uas = await phone.wake();
    const final = await finalOf(sipp);
    expect(final.status).toBe(200);
    expect(provisional(sipp)).toContain(180);
    // The INVITE reached the phone at the Contact it registered when woken, push parameters and all.
    const invite = uas.received('INVITE')[0];
    expect(invite?.firstLine).toContain(`pn-prid=${phone.token}`);
    expect(await uas.done(5000)).toBe(0);
    expect(final.at - invite!.at).toBeLessThan(1000);
    note('answered', '200 after the INVITE reached the phone', final.at - invite!.at);

    const view = await pbxView(callId);
    expect(view).toMatchObject({ status: 'answered', endReason: null });
    expect(view.answeredBy).toBe(view.devices[0].deviceId);
    expect((await phone.view()).body).toMatchObject({ status: 'answered' });
  });

  test('the phone registers while the webhook is still answering: the INVITE still reaches it', async () => {
    const phone = new Phone(world, 'bruno');
    await phone.register();
    // APNs takes 1.5 s to accept this push, so the webhook answers only then.
    world.sim.injectFault({ token: phone.token, delayMs: 1500 });
    const { sipp, callId } = await ring('bruno');
    await new Promise((r) => setTimeout(r, 300));
    // Woken (an earlier push, a user opening the app): registers; answers SIP 2 s after the INVITE.
    const uas = await phone.wake(2000);
    const registeredAt = Date.now();

    await phone.waitForPush();
    const pushSeenAt = Date.now();
    expect((await phone.confirm()).body.status).toBe('ringing');
    expect((await phone.answer()).body.status).toBe('answered');

    const final = await finalOf(sipp);
    expect(final.status).toBe(200);
    const invite = uas.received('INVITE')[0];
    expect(invite).toBeDefined();
    // Forked on the REGISTER, before callwake had answered the webhook.
    expect(invite!.at).toBeLessThan(pushSeenAt);
    expect(invite!.at - registeredAt).toBeLessThan(500);
    note('registers during the webhook', 'INVITE at the phone before the push was seen', pushSeenAt - invite!.at);
    expect(await uas.done(5000)).toBe(0);
    expect(await pbxView(callId)).toMatchObject({ status: 'answered' });
    expect((await phone.view()).body.status).toBe('answered');
  });

  test('two iPhones: both are pushed, each rings once registered, the second through tsilo', async () => {
    const first = new Phone(world, 'kira');
    const second = new Phone(world, 'kira');
    await first.register();
    await second.register();
    const { sipp, callId } = await ring('kira');
    await Promise.all([first.waitForPush(), second.waitForPush()]);
    expect(second.push?.callId).toBe(callId);
    // The first phone wakes and rings without answering; the second wakes later and answers.
    const firstSip = await first.wake(10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect((await second.confirm()).body.status).toBe('ringing');
    expect((await second.answer()).body.status).toBe('answered');
    const secondSip = await second.wake();

    const final = await finalOf(sipp);
    expect(final.status).toBe(200);
    expect(firstSip.received('INVITE')).toHaveLength(1);
    expect(secondSip.received('INVITE')).toHaveLength(1);
    expect(await secondSip.done(5000)).toBe(0);
    // The first phone's branch is cancelled by the answer: its SIP side never connects.
    await firstSip.stop();
    expect(firstSip.messages().some((m) => m.firstLine.startsWith('CANCEL '))).toBe(true);
    const view = await pbxView(callId);
    expect(view.status).toBe('answered');
    expect(view.devices).toHaveLength(2);
    // The phone that did not answer learns it was answered elsewhere.
    expect((await first.view()).body).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
  });

  test('Kamailio points the tenant’s callbacks at itself when it starts (no step of the operator’s)', async () => {
    const r = await world.pbx.getWebhook();
    expect(r.status).toBe(200);
    expect(r.body.url).toBe(world.kamailio.eventsUrl);
    expect([...r.body.events].sort()).toEqual(['call.cancelled', 'call.declined', 'call.expired']);
  });

  test('callwake lost the webhook (a table reset): the next INVITE sets it again beside its create, and its decline is 603 in time', async () => {
    expect((await world.pbx.deleteWebhook()).status).toBe(204);
    // (the timer checks only every 600 s here: what sets it again is the INVITE's own check)
    // A person declines seconds after the phone rings; the INVITE's check (two curl runs) takes
    // tens of milliseconds: the webhook is back within 3 s or the test fails.
    const { callId } = await declinedIn300ms('mona', {
      beforeDecline: () => waitForWebhook(world.pbx, world.kamailio, 3000),
    });
    expect(await pbxView(callId)).toMatchObject({ status: 'declined' });
  });

  test('a CANCEL right behind its INVITE (maybe before the INVITE has a transaction): 487 at once, the call cancelled', async () => {
    const phone = new Phone(world, 'nils');
    await phone.register();
    // SIPp cannot send two requests back to back without reading between them: a bare socket can.
    const { callId, responses } = await inviteAndCancelAtOnce('nils');
    const final = responses.find((r) => r.cseq === 'INVITE' && r.status >= 200);
    expect(final?.status).toBe(487);
    expect(final!.at - responses[0]!.sentAt).toBeLessThan(500);
    expect(responses.some((r) => r.cseq === 'CANCEL' && r.status === 200)).toBe(true);
    // callwake was told at once: the call is cancelled, and a push that went out finds it ended.
    const { view } = await pbxViewChangeFrom(callId, 'ringing', 2000);
    expect(view).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
    if (acceptedPushes(phone) > 0) {
      await phone.waitForPush();
      expect((await phone.confirm()).body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
    }
  });

  test('the woken phone registers twice: one INVITE still, and the call connects; a From user %2B… arrives as +…', async () => {
    const phone = new Phone(world, 'ines');
    await phone.register();
    const { sipp, callId } = await ring('ines', { from: '%2B15551239999' });
    const push = await phone.waitForPush();
    expect(push.caller).toEqual({ number: '+15551239999', displayName: 'Bob Smith' });
    expect((await phone.confirm()).body.status).toBe('ringing');
    expect((await phone.answer()).body.status).toBe('answered');
    // Answers 1.5 s after the INVITE; meanwhile its REGISTER comes again from the same Contact.
    const uas = await phone.wake(1500);
    await phone.registerAgain();

    const final = await finalOf(sipp);
    expect(final.status).toBe(200);
    // A second INVITE would have failed the phone's SIPp (an unexpected message).
    expect(await uas.done(5000)).toBe(0);
    expect(uas.received('INVITE')).toHaveLength(1);
    expect(await pbxView(callId)).toMatchObject({ status: 'answered' });
  });

  test('the caller hangs up before the app confirms: 487 at once, the app learns remoteEnded', async () => {
    const phone = new Phone(world, 'chloe');
    await phone.register();
    const { sipp, callId } = await ring('chloe', { scenario: 'caller-cancel-after-180.xml', pauseMs: 300 });
    await phone.waitForPush();

    const final = await finalOf(sipp);
    expect(final.status).toBe(487);
    expect(final.at - sentAt(sipp, 'CANCEL')).toBeLessThan(300);
    note('hangs up before the app confirms', '487 after the CANCEL', final.at - sentAt(sipp, 'CANCEL'));
    // Kamailio tells callwake at once (a signed cancel, caller_hangup).
    const { view, at } = await pbxViewChangeFrom(callId, 'ringing', 2000);
    expect(view).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
    expect(at - sentAt(sipp, 'CANCEL')).toBeLessThan(1000);
    note('hangs up before the app confirms', 'callwake cancelled after the CANCEL (seen)', at - sentAt(sipp, 'CANCEL'));

    // The app, late, confirms: the call is over, CallKit ends it as remoteEnded.
    const confirmed = await phone.confirm();
    expect(confirmed.body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
  });

  test('the caller hangs up while the webhook is still answering: 487 at once, the push finds it ended', async () => {
    const phone = new Phone(world, 'dmitri');
    await phone.register();
    world.sim.injectFault({ token: phone.token, delayMs: 1500 });
    const { sipp, callId } = await ring('dmitri', { scenario: 'caller-cancel-after-100.xml', pauseMs: 300 });

    const final = await finalOf(sipp);
    expect(final.status).toBe(487);
    expect(final.at - sentAt(sipp, 'CANCEL')).toBeLessThan(300);
    note('hangs up during the webhook', '487 after the CANCEL', final.at - sentAt(sipp, 'CANCEL'));
    expect(provisional(sipp)).not.toContain(180);

    await phone.waitForPush();
    const confirmed = await phone.confirm();
    expect(confirmed.body.status === 'ended' || confirmed.body.call?.status === 'ended').toBe(true);
    expect(await pbxView(callId)).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
  });

  test('declined: 603 to the caller within 300 ms of the decline', async () => {
    const { phone, callId, final, declinedAt } = await declinedIn300ms('emma', { confirm: true });
    note('declined', '603 after the decline was answered', final.at - declinedAt);
    const view = await pbxView(callId);
    expect(view).toMatchObject({ status: 'declined' });
    expect(view.declinedBy).toBe(view.devices[0].deviceId);
    expect((await phone.view()).body.status).toBe('declined');
  });

  test('cancelled by another leg: 487 to the caller at once, the app learns answeredElsewhere', async () => {
    const phone = new Phone(world, 'lena');
    await phone.register();
    const { sipp, callId } = await ring('lena');
    await phone.waitForPush();
    expect((await phone.confirm()).body.status).toBe('ringing');
    // Another part of the PBX (a desk phone's leg, an operator) ends the call in callwake.
    const cancel = await world.pbx.cancel(callId, 'answered_elsewhere');
    const cancelledAt = Date.now();
    expect(cancel.body.status).toBe('cancelled');

    const final = await finalOf(sipp);
    expect(final.status).toBe(487);
    expect(final.at - cancelledAt).toBeLessThan(1000);
    note('cancelled by another leg', '487 after the cancel was answered', final.at - cancelledAt);
    expect(await pbxView(callId)).toMatchObject({ status: 'cancelled', endReason: 'answeredElsewhere' });
    expect((await phone.view()).body).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
  });

  test('unreachable: APNs refuses the push, 480 at once', async () => {
    const phone = new Phone(world, 'farid');
    await phone.register();
    world.sim.markUnregistered(phone.token);
    const { sipp, callId } = await ring('farid');

    const final = await finalOf(sipp);
    expect(final.status).toBe(480);
    expect(final.at - sentAt(sipp, 'INVITE')).toBeLessThan(1000);
    note('unreachable', '480 after the INVITE', final.at - sentAt(sipp, 'INVITE'));
    expect(provisional(sipp)).not.toContain(180);
    expect(await pbxView(callId)).toMatchObject({ status: 'unreachable', endReason: 'failed' });
    expect(acceptedPushes(phone)).toBe(0);
  });

  test('unanswered: 480 at the ring timeout, the ringing app learns unanswered', async () => {
    const phone = new Phone(world, 'greta');
    await phone.register();
    const { sipp, callId } = await ring('greta');
    await phone.waitForPush();
    expect((await phone.confirm()).body.status).toBe('ringing');
    const ended = phone.viewChangeFrom('ringing', (RING_SECONDS + 5) * 1000).then((r) => ({ r, at: Date.now() }));

    const final = await finalOf(sipp);
    expect(final.status).toBe(480);
    const view = await pbxView(callId);
    expect(view).toMatchObject({ status: 'expired', endReason: 'unanswered' });
    const lateBy = final.at - Date.parse(view.expiresAt);
    expect(lateBy).toBeGreaterThanOrEqual(-50);
    expect(lateBy).toBeLessThan(1000);
    note('unanswered', `480 after expiresAt (ring ${RING_SECONDS} s)`, lateBy);
    const { r: endedView, at: endedAt } = await ended;
    expect(endedView.body).toMatchObject({ status: 'ended', endReason: 'unanswered' });
    note('unanswered', 'waiting app view ended after expiresAt', endedAt - Date.parse(view.expiresAt));
  });

  test('answered but never registers: 480 after the backstop, and the answering app’s call ends', async () => {
    const phone = new Phone(world, 'hana');
    await phone.register();
    const { sipp, callId } = await ring('hana');
    await phone.waitForPush();
    expect((await phone.confirm()).body.status).toBe('ringing');
    expect((await phone.answer()).body.status).toBe('answered');
    const ended = phone
      .viewChangeFrom('answered', (RING_SECONDS + BACKSTOP_SECONDS + 5) * 1000)
      .then((r) => ({ r, at: Date.now() }));

    const final = await finalOf(sipp);
    expect(final.status).toBe(480);
    const elapsed = final.at - sentAt(sipp, 'INVITE');
    // (Kamailio's timers tick every 62.5 ms)
    expect(elapsed).toBeGreaterThanOrEqual((RING_SECONDS + BACKSTOP_SECONDS) * 1000 - 200);
    expect(elapsed).toBeLessThan((RING_SECONDS + BACKSTOP_SECONDS) * 1000 + 1000);
    note('answered, never registers', `480 after the INVITE (backstop ${RING_SECONDS}+${BACKSTOP_SECONDS} s)`, elapsed);

    const { r: endedView, at: endedAt } = await ended;
    expect(endedView.body).toMatchObject({ status: 'ended', endReason: 'unanswered' });
    note('answered, never registers', 'answering app view ended after the 480', endedAt - final.at);
    const view = await pbxView(callId);
    expect(view).toMatchObject({ status: 'cancelled', endReason: 'unanswered' });
    expect(view.answeredBy).toBe(view.devices[0].deviceId);
  });

  test('a blocked caller: 603 at once, no push', async () => {
    const phone = new Phone(world, 'ivan');
    await phone.register();
    const settings = await world.pbx.send('PUT', '/v1/pbx/users/ivan/settings', { blockedCallers: ['+15550001111'] });
    expect(settings.status).toBe(200);
    const { sipp, callId } = await ring('ivan', { from: '+15550001111', display: 'Spam' });

    const final = await finalOf(sipp);
    expect(final.status).toBe(603);
    expect(final.at - sentAt(sipp, 'INVITE')).toBeLessThan(1000);
    note('blocked caller', '603 after the INVITE', final.at - sentAt(sipp, 'INVITE'));
    expect(provisional(sipp)).not.toContain(180);
    expect(await pbxView(callId)).toMatchObject({ status: 'rejected', rejectReason: 'blocked' });
    expect(acceptedPushes(phone)).toBe(0);
  });

  test('Do Not Disturb: 480 at once, no push', async () => {
    const phone = new Phone(world, 'jules');
    await phone.register();
    const settings = await world.pbx.send('PUT', '/v1/pbx/users/jules/settings', {
      doNotDisturb: { enabled: true, until: null, allowedCallers: ['+15559990000'] },
    });
    expect(settings.status).toBe(200);
    const { sipp, callId } = await ring('jules');

    const final = await finalOf(sipp);
    expect(final.status).toBe(480);
    expect(final.firstLine).toContain('Do Not Disturb');
    expect(final.at - sentAt(sipp, 'INVITE')).toBeLessThan(1000);
    note('Do Not Disturb', '480 after the INVITE', final.at - sentAt(sipp, 'INVITE'));
    expect(await pbxView(callId)).toMatchObject({ status: 'rejected', rejectReason: 'doNotDisturb' });
    expect(acceptedPushes(phone)).toBe(0);
  });
});
