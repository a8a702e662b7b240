/** The apps the virtual phones run, and an Apple team the stack is not configured for. */

export const BUNDLE = 'com.example.phone';
/** Devices of this app get alert pushes, not VoIP ones. */
export const ALERT_BUNDLE = 'com.example.lite';
export const OTHER_TEAM = 'OTHERTEAM9';
