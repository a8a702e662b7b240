import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * A secret fetched at init and re-read at most every `maxAgeMs`, so a rotated PBX secret or
 * token key reaches warm containers without a redeploy. A failed refresh keeps the last value.
 */
export class CachedSecret<T> {
  private value: T | undefined;
  private fetchedAt = 0;
  private inflight: Promise<T> | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly parse: (text: string) => T,
    /** How stale the value may get (SECRETS_MAX_AGE_SECONDS): a removed secret works no longer. */
    private readonly maxAgeMs = 60 * 1000,
  ) {}

  async get(): Promise<T> {
    if (this.value !== undefined && Date.now() - this.fetchedAt < this.maxAgeMs) return this.value;
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    try {
      return await this.inflight;
    } catch (e) {
      if (this.value !== undefined) return this.value;
      throw e;
    }
  }

  /** Re-reads now, whatever the value's age (a caller saw something only a newer value explains). */
  async refresh(): Promise<T> {
    this.fetchedAt = 0;
    return this.get();
  }

  /** The last value fetched; `get()` must have resolved once. */
  current(): T {
    if (this.value === undefined) throw new Error(`secret ${this.secretId} not loaded`);
    return this.value;
  }

  private async fetch(): Promise<T> {
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    const value = this.parse(out.SecretString ?? '');
    this.value = value;
    this.fetchedAt = Date.now();
    return value;
  }
}

export const secretsManagerClient = (): SecretsManagerClient => new SecretsManagerClient({});
