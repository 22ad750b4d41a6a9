import { randomBytes } from 'node:crypto';

/**
 * The id of a result's page (/r/ID): 128 random bits in base64url, 22 characters. Nobody can guess another
 * client's page from their own; the link is the only way to it, and its owner decides whom to send it to.
 */
export function newResultId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Whether `text` can be a result id: base64url text of the length ids are made with, or 32 hex digits (the ids
 * schema version 2 gave to runs stored before pages existed). Anything else is refused before any store lookup.
 */
export function isResultId(text: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(text) || /^[0-9a-f]{32}$/.test(text);
}
