import type { Observability } from './adapters/observability.js';
import { causeOf } from './core/ids.js';

/** What a function logs, at ERROR, when building its dependencies fails: the alarm's metric filter counts it. */
export const INIT_FAILED_LOG_MESSAGE = 'initialisation failed';

/**
 * A deployed function's dependencies: built once per container (clients, connections, secrets
 * fetched at init), then reused by every invocation. Each function only reads the secrets its
 * environment names, and IAM lets it read no others.
 */
export function initOnce<D>(o: Observability, build: (o: Observability) => Promise<D>): () => Promise<D> {
  const { log } = o;
  let built: Promise<D> | undefined;
  const deps = () =>
    (built ??= build(o).catch((e: unknown) => {
      // A throttled or timed-out secret read at init must not break this container for good.
      built = undefined;
      log.error(INIT_FAILED_LOG_MESSAGE, { error: (e as Error)?.name, cause: causeOf(e) });
      throw e;
    }));
  // Start during Lambda's init phase (its CPU is not billed and the first request waits less);
  // a failure here is retried by the first request.
  deps().catch(() => undefined);
  return deps;
}
