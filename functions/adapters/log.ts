import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import type { Log } from '../core/ports.js';

/**
 * Powertools' JSON line without the four keys that are the same on every line of a function's log
 * group (its own): `function_arn` and `function_name` (the log group is the function's),
 * `function_memory_size` (also in every REPORT line) and `sampling_rate` (the configured debug
 * sampling, 0). About 230 of a line's ~550 bytes (docs/cost.md). What tells one invocation or
 * request from another stays: the level, message, timestamp, service, cold start, Lambda request id
 * (the access log's `integrationRequestId`, the REPORT line's RequestId) and X-Ray trace id, and
 * every key the code or the middlewares add (`apiRequestId`).
 */
export class HouseLogFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additionalLogAttributes: LogAttributes): LogItem {
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: attributes.lambdaContext?.coldStart,
        function_request_id: attributes.lambdaContext?.awsRequestId,
        xray_trace_id: attributes.xRayTraceId,
      },
    }).addAttributes(additionalLogAttributes);
  }
}

/** A function's logger: Powertools with the house formatter. */
export const houseLogger = (serviceName: string): Logger =>
  new Logger({ serviceName, logFormatter: new HouseLogFormatter() });

/**
 * Structured logs through Powertools. Callers pass only ids, counts and reasons: never phone
 * numbers, SIP URIs, push tokens, call tokens or secrets (the use cases are written that way).
 */
export const logPort = (logger: Logger): Log => ({
  info: (message, fields) => logger.info(message, fields ?? {}),
  warn: (message, fields) => logger.warn(message, fields ?? {}),
  error: (message, fields) => logger.error(message, fields ?? {}),
});

export const powertoolsLog = (serviceName: string): Log => logPort(houseLogger(serviceName));
