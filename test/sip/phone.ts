import { randomBytes } from 'node:crypto';
import type { AppClient, Reply } from '../../local/clients.js';
import { freeUdpPort, type Sipp, TOPIC } from './support.js';

/** The callwake member of a VoIP push, as the app reads it. */
export interface CallPush {
  callId: string;
  callUuid: string;
  caller: { number?: string; displayName?: string; uri?: string };
  token: string;
  api: string;
  expiresAt: number;
}

/** What a phone needs around it: the app API, Kamailio, SIPp, and where its pushes land. */
export interface PhoneEnv {
  app: AppClient;
  /** Kamailio's SIP address, `host:port` (UDP). */
  sipTarget: string;
  sipp(o: Parameters<typeof Sipp.start>[0]): Sipp;
  /** The payload of the first VoIP push APNs accepted for this device token (bounded wait). */
  pushFor(token: string, timeoutMs: number): Promise<unknown>;
}

/**
 * An iPhone running a callwake app, as far as SIP and callwake can tell: it registers with its
 * RFC 8599 push parameters and goes to sleep (nothing listens at its Contact any more); the VoIP
 * push from the APNs simulator wakes it; the app confirms, answers or declines over the app API;
 * then its SIP stack registers from a new port and takes the INVITE Kamailio forks to it.
 */
export class Phone {
  readonly token = randomBytes(32).toString('hex');
  /** What the phone saw: its push, each app API answer, and the INVITE its SIP side got. */
  push: CallPush | undefined;
  readonly replies: Array<{ what: string; at: number; reply: Reply }> = [];
  sip: Sipp | undefined;
  private sipPort: number | undefined;

  constructor(
    private readonly env: PhoneEnv,
    readonly user: string,
  ) {}

  /** REGISTER with pn-provider/pn-prid/pn-param, Contact at `contactPort`; resolves on the 200. */
  async register(contactPort?: number): Promise<void> {
    const port = await freeUdpPort();
    const sipp = this.env.sipp({
      scenario: 'phone-register.xml',
      port,
      target: this.env.sipTarget,
      vars: { user: this.user, contact_port: String(contactPort ?? port), token: this.token, topic: TOPIC },
      timeoutSeconds: 5,
    });
    const code = await sipp.done(8000);
    if (code !== 0) throw new Error(`REGISTER for ${this.user} failed (sipp exit ${code}): ${sipp.errors()}`);
  }

  /** The first VoIP push APNs accepted for this phone (bounded wait). */
  async waitForPush(timeoutMs = 5000): Promise<CallPush> {
    const payload = await this.env.pushFor(this.token, timeoutMs);
    this.push = (payload as { callwake: CallPush }).callwake;
    return this.push;
  }

  private async call(what: string, run: (callId: string, token: string) => Promise<Reply>): Promise<Reply> {
    if (!this.push) throw new Error(`${what} before any push`);
    const reply = await run(this.push.callId, this.push.token);
    this.replies.push({ what, at: Date.now(), reply });
    return reply;
  }

  confirm() {
    return this.call('confirm', (id, token) => this.env.app.confirm(id, token));
  }
  answer() {
    return this.call('answer', (id, token) => this.env.app.answer(id, token));
  }
  decline() {
    return this.call('decline', (id, token) => this.env.app.decline(id, token));
  }
  view() {
    return this.call('view', (id, token) => this.env.app.view(id, token));
  }

  /**
   * Waits on the app view until it is no longer `status` (ETag + Prefer: wait, no polling), at
   * most `timeoutMs`: what a ringing or answering app learns when the call ends.
   */
  async viewChangeFrom(status: string, timeoutMs: number): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    let reply = await this.view();
    while (reply.status === 200 && reply.body.status === status && Date.now() < deadline) {
      const etag = reply.headers.get('etag') ?? undefined;
      const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
      const next = await this.call('view (wait)', (id, token) =>
        this.env.app.view(id, token, { ...(etag ? { etag } : {}), waitSeconds: Math.min(left, 20) }),
      );
      if (next.status === 304) continue;
      reply = next;
    }
    return reply;
  }

  /**
   * The woken SIP stack: a UAS on a new port that answers the INVITE after `answerAfterMs`, then
   * a REGISTER with the same push parameters and that port as Contact.
   */
  async wake(answerAfterMs = 0): Promise<Sipp> {
    const port = await freeUdpPort();
    this.sip = this.env.sipp({ scenario: 'phone-answer.xml', port, pauseMs: answerAfterMs, timeoutSeconds: 20 });
    this.sipPort = port;
    await this.register(port);
    return this.sip;
  }

  /** The woken SIP stack's REGISTER again, same Contact (a refresh, or a retransmission). */
  async registerAgain(): Promise<void> {
    if (this.sipPort === undefined) throw new Error('registerAgain before wake');
    await this.register(this.sipPort);
  }
}
