/** Text as a browser shows it from HTML that escapeHtml() wrote: the named escapes and numeric references read back. */
export function unescapeHtml(html: string): string {
  const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', amp: '&' };
  return html.replace(/&(?:#(\d+)|(lt|gt|quot|amp));/g, (_, code: string | undefined, name: string | undefined) =>
    code === undefined ? (named[name ?? ''] ?? '') : String.fromCharCode(Number(code)),
  );
}
