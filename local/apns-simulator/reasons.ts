/**
 * The reason strings the simulator answers with. All of them are in Apple's table "Response error
 * strings" of "Handling notification responses from APNs" (developer.apple.com), with the status
 * code Apple lists for each.
 */
export const Reason = {
  BadCollapseId: 'BadCollapseId',
  BadDeviceToken: 'BadDeviceToken',
  BadExpirationDate: 'BadExpirationDate',
  BadMessageId: 'BadMessageId',
  BadPriority: 'BadPriority',
  BadTopic: 'BadTopic',
  DeviceTokenNotForTopic: 'DeviceTokenNotForTopic',
  DuplicateHeaders: 'DuplicateHeaders',
  InvalidPushType: 'InvalidPushType',
  MissingDeviceToken: 'MissingDeviceToken',
  MissingTopic: 'MissingTopic',
  PayloadEmpty: 'PayloadEmpty',
  ExpiredProviderToken: 'ExpiredProviderToken',
  Forbidden: 'Forbidden',
  InvalidProviderToken: 'InvalidProviderToken',
  MissingProviderToken: 'MissingProviderToken',
  BadPath: 'BadPath',
  MethodNotAllowed: 'MethodNotAllowed',
  Unregistered: 'Unregistered',
  PayloadTooLarge: 'PayloadTooLarge',
  TooManyProviderTokenUpdates: 'TooManyProviderTokenUpdates',
  TooManyRequests: 'TooManyRequests',
  InternalServerError: 'InternalServerError',
  ServiceUnavailable: 'ServiceUnavailable',
  Shutdown: 'Shutdown',
} as const;

export type ReasonString = (typeof Reason)[keyof typeof Reason];

/**
 * Apple's device-push error table has no reason for a body that is not a JSON object (the
 * "BadRequestPayload" string belongs to the broadcast-channel API). The simulator answers such a
 * body with 400 `PayloadEmpty`, the only body reason Apple lists for that API: there is no usable
 * payload in it. Kept in one place so it is easy to change if Apple's answer is ever observed.
 */
export const NOT_A_JSON_OBJECT_REASON: ReasonString = Reason.PayloadEmpty;

/** The reason an injected fault answers with when it gives a status but no reason. */
export function defaultReasonForStatus(status: number): ReasonString | undefined {
  switch (status) {
    case 403:
      return Reason.Forbidden;
    case 404:
      return Reason.BadPath;
    case 405:
      return Reason.MethodNotAllowed;
    case 410:
      return Reason.Unregistered;
    case 413:
      return Reason.PayloadTooLarge;
    case 429:
      return Reason.TooManyRequests;
    case 500:
      return Reason.InternalServerError;
    case 503:
      return Reason.ServiceUnavailable;
    default:
      return undefined;
  }
}
