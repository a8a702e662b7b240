/**
 * One class per failure the domain can report. Handlers map them to problem codes;
 * the domain never speaks HTTP.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class CallIdConflictError extends DomainError {
  readonly code = 'call_id_conflict';
  constructor() {
    super('This callId is already in use by the tenant with a different body.');
  }
}

/** A create arrived for a call that was already cancelled (or tombstoned by a cancel). */
export class CallAlreadyEndedError extends DomainError {
  readonly code = 'call_ended';
  constructor() {
    super('This call was already cancelled.');
  }
}

export class CallNotFoundError extends DomainError {
  readonly code = 'call_not_found';
  constructor() {
    super('No such call, or it is past its lifetime.');
  }
}

export class TooManyDevicesError extends DomainError {
  readonly code = 'too_many_devices';
  constructor(readonly limit: number) {
    super(`A user may have at most ${limit} devices.`);
  }
}

export class UnknownTeamError extends DomainError {
  readonly code = 'unknown_team';
  constructor(detail: string) {
    super(detail);
  }
}

/** The app's view goes with every 409/410 from the app API, so the app can end its CallKit call. */
export class AppCallEndedError<View> extends DomainError {
  readonly code = 'call_ended';
  constructor(
    readonly status: 409 | 410,
    readonly view: View,
    message: string,
  ) {
    super(message);
  }
}

/** Several Apple teams are configured, so a device must say which is its own. */
export class TeamRequiredError extends DomainError {
  readonly code = 'validation_failed';
  constructor() {
    super('teamId is required: this deployment has more than one Apple team.');
  }
}

export class TokenScopeError extends DomainError {
  readonly code = 'token_scope';
  constructor() {
    super('This token was issued for another call.');
  }
}
