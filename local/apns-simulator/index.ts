/**
 * callwake's APNs simulator: a local HTTP/2 + TLS server that speaks Apple's provider API
 * (token auth, request checks, reason strings) with injectable faults, for `npm start` and tests.
 */

export { createSimulatorKey } from './keys.js';
export {
  PROVIDER_TOKEN_MAX_AGE_SECONDS,
  PROVIDER_TOKEN_MAX_FUTURE_SKEW_SECONDS,
  PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS,
} from './provider-token.js';
export { NOT_A_JSON_OBJECT_REASON, Reason, type ReasonString } from './reasons.js';
export {
  MAX_COLLAPSE_ID_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_PAYLOAD_BYTES_VOIP,
  PUSH_TYPES,
  type PushType,
} from './request-checks.js';
export { ApnsSimulator } from './simulator.js';
export type { Fault, ReceivedPush, SimulatorKey, SimulatorOptions } from './types.js';
