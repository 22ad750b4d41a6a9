/** `?format=json` decides; without it, an Accept header that names application/json. */
export function asksForJson(format: string | null, accept: string): boolean {
  if (format !== null) return format === 'json';
  return accept.includes('application/json');
}

/**
 * Whether a request asks for JSON, read from its first bytes as the packet engine saw them (the rest of the request may
 * never have arrived): the request target of the first line, and an Accept header among the lines that are complete.
 */
export function requestHeadAsksForJson(head: string): boolean {
  const lines = head.split('\r\n');
  const target = lines[0]?.split(' ')[1] ?? '/';
  let format: string | null;
  try {
    format = new URL(target, 'http://checker.invalid').searchParams.get('format');
  } catch {
    format = null;
  }
  // The last line may be cut short: only lines followed by a line break are whole.
  const accept = lines
    .slice(1, -1)
    .filter((l) => /^accept\s*:/i.test(l))
    .map((l) => l.slice(l.indexOf(':') + 1).trim())
    .join(', ');
  return asksForJson(format, accept);
}
