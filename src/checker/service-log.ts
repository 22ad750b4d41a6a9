/**
 * The service's log: one line per event on standard error, as text for people (`mtuscope serve: <message>`) or as
 * one JSON object per line for log collectors (`--log-format json`): time, level and message, and the structured
 * fields of the event (a test's client, test, verdict, status and duration; see test-log.ts).
 */

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogLevel = 'info' | 'error';
export type LogFieldValue = string | number | boolean | null;
export type LogFields = Readonly<Record<string, LogFieldValue>>;

export interface LogDetails {
  /** Default info. */
  readonly level?: LogLevel;
  /** What a JSON line carries besides the message; the text line says it in its message. */
  readonly fields?: LogFields;
}

/** One event of the service's log. */
export type ServiceLog = (message: string, details?: LogDetails) => void;

/** The keys every JSON line starts with; a field of the same name cannot replace them. */
const RESERVED = new Set(['time', 'level', 'message']);

/** The line (without its newline) for `message` in `format`, written at `now`. */
export function formatLogLine(format: LogFormat, message: string, details: LogDetails = {}, now = new Date()): string {
  if (format === 'text') return `mtuscope serve: ${message}`;
  const fields = Object.entries(details.fields ?? {}).filter(([key]) => !RESERVED.has(key));
  return JSON.stringify({ time: now.toISOString(), level: details.level ?? 'info', message, ...Object.fromEntries(fields) });
}

/** A log that writes each line to `write` (standard error in the service). */
export function serviceLog(format: LogFormat, write: (line: string) => void): ServiceLog {
  return (message, details) => write(`${formatLogLine(format, message, details)}\n`);
}
