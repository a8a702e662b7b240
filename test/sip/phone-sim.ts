/**
 * The phone simulator on its own, against a running `npm start` and Kamailio (see
 * examples/kamailio/README.md): registers `--user` with RFC 8599 push parameters and sleeps; when
 * you call that user through Kamailio, the VoIP push from npm start's APNs simulator wakes it, the
 * app confirms and answers (or declines, or lets it ring), then the phone registers again and
 * answers the INVITE Kamailio forks to it. Prints each step with its time.
 *
 *   npx tsx test/sip/phone-sim.ts --callwake http://127.0.0.1:3000 --sip 127.0.0.1:5060 --user alice
 *     [--app answer|decline|ignore] [--wait <seconds for the call to come, default 120>]
 */
import { parseArgs } from 'node:util';
import { AppClient } from '../../local/clients.js';
import { Phone, type PhoneEnv } from './phone.js';
import { Sipp } from './support.js';

const { values } = parseArgs({
  options: {
    callwake: { type: 'string', default: 'http://127.0.0.1:3000' },
    sip: { type: 'string', default: '127.0.0.1:5060' },
    user: { type: 'string', default: 'alice' },
    app: { type: 'string', default: 'answer' },
    wait: { type: 'string', default: '120' },
  },
});
const base = values.callwake.replace(/\/+$/, '');
const action = values.app;
if (!['answer', 'decline', 'ignore'].includes(action)) throw new Error('--app is answer, decline or ignore');
const waitSeconds = Number(values.wait);

const started = Date.now();
const say = (text: string, at = Date.now()) =>
  console.log(`${((at - started) / 1000).toFixed(3).padStart(8)} s  ${text}`);
const sipps: Sipp[] = [];

const env: PhoneEnv = {
  app: new AppClient(base),
  sipTarget: values.sip,
  sipp(o) {
    const s = Sipp.start(o);
    sipps.push(s);
    return s;
  },
  // npm start lets this machine read what its APNs simulator accepted (GET /_local/apns/pushes).
  async pushFor(token, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(`${base}/_local/apns/pushes?token=${token}`);
      if (!res.ok) throw new Error(`GET /_local/apns/pushes: ${res.status} (is this npm start with its simulator?)`);
      const { pushes } = (await res.json()) as { pushes: Array<{ status: number; payload: unknown }> };
      const accepted = pushes.find((p) => p.status === 200);
      if (accepted) return accepted.payload;
      if (Date.now() > deadline) throw new Error(`no push within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  },
};

async function main() {
  const phone = new Phone(env, values.user);
  await phone.register();
  say(`${values.user} registered at ${values.sip} (pn-prid=${phone.token.slice(0, 12)}…), now asleep`);
  say(
    `call it: sipp -sf test/sip/scenarios/caller.xml -s ${values.user} -m 1 ` +
      `-set from_user +15551230000 -set display 'Bob Smith' -d 2000 ${values.sip}`,
  );
  const push = await phone.waitForPush(waitSeconds * 1000);
  say(`VoIP push: call ${push.callId} from ${JSON.stringify(push.caller)}`);
  const confirmed = await phone.confirm();
  say(`confirm: ${confirmed.status} ${confirmed.body.status} (CallKit shows ${JSON.stringify(confirmed.body.caller)})`);
  if (confirmed.body.status !== 'ringing') return;

  if (action === 'decline') {
    const r = await phone.decline();
    say(`decline: ${r.status} ${r.body.status ?? r.body.code} (the caller gets 603)`);
    return;
  }
  if (action === 'ignore') {
    say('letting it ring…');
    const r = await phone.viewChangeFrom('ringing', 330_000);
    say(`app view: ${r.body.status} ${r.body.endReason ?? ''} (CallKit ends the call)`);
    return;
  }
  const answered = await phone.answer();
  say(`answer: ${answered.status} ${answered.body.status ?? answered.body.code}`);
  if (answered.body.status !== 'answered') return;
  const uas = await phone.wake();
  say('woken: registered again from a new port; waiting for the INVITE');
  const code = await uas.done(330_000);
  for (const m of uas.messages()) say(`SIP ${m.direction === 'sent' ? '→' : '←'} ${m.firstLine}`, m.at);
  say(code === 0 ? 'call answered and hung up' : `the phone's SIP side ended with sipp exit ${code}`);
}

main()
  .catch((e) => {
    console.error((e as Error).message);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const s of sipps) await s.cleanup();
  });
