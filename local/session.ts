import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where `npm start` leaves its URL and demo credentials for `npm run demo` (git-ignored, mode 0600). */
export const SESSION_FILE = '.local/session.json';

export function writeSession(session: { url: string; tenantId: string; secret: string }): void {
  mkdirSync(dirname(SESSION_FILE), { recursive: true });
  writeFileSync(SESSION_FILE, JSON.stringify(session), { mode: 0o600 });
  chmodSync(SESSION_FILE, 0o600);
}
