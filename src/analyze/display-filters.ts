/**
 * Display filters of several findings as one: what `mtuscope analyze` prints for a flow with more than one finding,
 * so that one filter shows all its evidence in Wireshark. Each filter is parenthesised, since a finding's filter
 * may itself hold `||` (`a || b && c` would bind wrongly otherwise); duplicates are left out.
 */
export function anyOfFilters(filters: readonly string[]): string {
  const unique = [...new Set(filters.map((f) => f.trim()).filter((f) => f !== ''))];
  if (unique.length === 0) return 'frame.number == 0';
  if (unique.length === 1) return unique[0]!;
  return unique.map((f) => `(${f})`).join(' || ');
}
