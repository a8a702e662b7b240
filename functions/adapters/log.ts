import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../core/ports.js';

/**
 * Structured logs through Powertools. Callers pass only ids, counts and reasons: never phone
 * numbers, SIP URIs, push tokens, call tokens or secrets (the use cases are written that way).
 */
export const logPort = (logger: Logger): Log => ({
  info: (message, fields) => logger.info(message, fields ?? {}),
  warn: (message, fields) => logger.warn(message, fields ?? {}),
  error: (message, fields) => logger.error(message, fields ?? {}),
});

export const powertoolsLog = (serviceName: string): Log => logPort(new Logger({ serviceName }));
