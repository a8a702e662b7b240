import { randomBytes } from 'node:crypto';
import { type CallTokenClaims, type TokenKeyRing, verifyCallToken } from '../../../functions/core/call-token.js';

/** The call-token key ring (the `tokenKeys` port): a fresh random key, rotated on demand. */
export class FakeTokenKeys {
  private ring: TokenKeyRing;

  constructor(kid = 'test-key-1') {
    const key = { kid, secret: randomBytes(32).toString('base64url') };
    this.ring = { current: key, all: [key] };
  }

  /** The port. */
  readonly tokenKeys = (): TokenKeyRing => this.ring;

  /** A new current key; the previous ones still verify (a rotation under way). */
  rotate(kid: string): void {
    const key = { kid, secret: randomBytes(32).toString('base64url') };
    this.ring = { current: key, all: [key, ...this.ring.all] };
  }

  /** What the app API reads from a bearer token: its claims, or undefined when no key of the ring made it. */
  claimsOf(token: string): CallTokenClaims | undefined {
    return verifyCallToken(this.ring, token);
  }
}
