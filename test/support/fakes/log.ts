import type { Log } from '../../../functions/core/ports.js';

/** A log that keeps every line, so tests can assert on it (and on what must never be in it). */
export class CapturedLog implements Log {
  readonly lines: string[] = [];
  info(message: string, fields?: Record<string, unknown>) {
    this.lines.push(JSON.stringify({ level: 'info', message, ...fields }));
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.lines.push(JSON.stringify({ level: 'warn', message, ...fields }));
  }
  error(message: string, fields?: Record<string, unknown>) {
    this.lines.push(JSON.stringify({ level: 'error', message, ...fields }));
  }
}
