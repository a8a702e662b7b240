import type { AppView } from './call.js';

/**
 * One class per failure the domain can report. Each says what happened; the API layer decides
 * how that is told to a client (status and problem code), so the domain never speaks HTTP.
 */
export abstract class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A create named a callId the tenant already uses for another body. */
export class CallIdConflictError extends DomainError {
  constructor() {
    super('This callId is already in use by the tenant with a different body.');
  }
}

/** A create arrived for a call that was already cancelled (or tombstoned by a cancel). */
export class CallAlreadyEndedError extends DomainError {
  constructor() {
    super('This call was already cancelled.');
  }
}

export class CallNotFoundError extends DomainError {
  constructor() {
    super('No such call, or it is past its lifetime.');
  }
}

export class TooManyDevicesError extends DomainError {
  constructor(readonly limit: number) {
    super(`A user may have at most ${limit} devices.`);
  }
}

export class UnknownTeamError extends DomainError {}

/** Several Apple teams are configured, so a device must say which is its own. */
export class TeamRequiredError extends DomainError {
  constructor() {
    super('teamId is required: this deployment has more than one Apple team.');
  }
}

/** A genuine call token used for another call than the one it was issued for. */
export class TokenScopeError extends DomainError {
  constructor() {
    super('This token was issued for another call.');
  }
}

/**
 * The app's call no longer exists (past its lifetime, or never known). The view tells the app
 * how to end its CallKit call.
 */
export class AppCallGoneError extends DomainError {
  constructor(readonly view: AppView) {
    super('This call has ended and is no longer known.');
  }
}

/** The device lost the answer or decline: the call ended, or another device decided it. */
export class AppActionRefusedError extends DomainError {
  constructor(
    readonly view: AppView,
    action: 'answer' | 'decline',
  ) {
    super(
      action === 'answer' ? 'The call can no longer be answered here.' : 'The call can no longer be declined here.',
    );
  }
}

/**
 * A registry, settings or webhook change signed earlier than the last change applied to the same
 * resource: applying it would roll that change back (a replayed capture, or a late retry).
 */
export class StaleRequestError extends DomainError {
  constructor() {
    super('A change to this resource signed later than this request has already been applied.');
  }
}

/** The tenant is bound to its apps, and this is not one of them. */
export class AppNotAllowedError extends DomainError {
  constructor() {
    super('This tenant may not register devices of this app.');
  }
}
