import type { CallbackSender, PostOutcome } from '../core/ports.js';

/**
 * POSTs a callback with fetch: a redirect is an answer (not followed, so a failure), the
 * receiver's body is never read (a huge one costs nothing), and the whole exchange up to the
 * status line is bounded by the timeout.
 */
export const httpCallbackSender: CallbackSender = {
  async post(url, headers, body, timeoutMs): Promise<PostOutcome> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300
        ? { ok: true, status: res.status }
        : { ok: false, status: res.status };
    } catch (e) {
      const name = (e as Error)?.name;
      return { ok: false, error: name === 'TimeoutError' ? 'Timeout' : (((e as Error)?.cause as Error)?.name ?? name) };
    }
  },
};
