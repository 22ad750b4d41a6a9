import { formatIpv4, formatIpv6, ipv4InMapped, parseIpv4Text, parseIpv6Text } from '../packet/address.js';
import { familyFromName } from '../packet/ip-family.js';
import type { TestResult } from './test-result.js';
import { truncateAddress } from './truncate-address.js';

/**
 * The result with its client reduced to a network (see truncateAddress) everywhere it appears: the evidence's
 * address, and the address in the explanation and advice, which may quote it to the client. The port is set to 0
 * (no port): together with the time it could single out a subscriber behind a shared address.
 */
export function redactClientAddress(result: TestResult): TestResult {
  const { evidence } = result;
  const truncated = truncateAddress(evidence.clientAddress, familyFromName(evidence.family));
  const client = addressKey(withoutZone(evidence.clientAddress.trim()));
  const literals = client === undefined ? [] : usualSpellings(client);
  const scrub = (text: string): string => {
    // First the usual spellings wherever they are, even glued to other text (`10.1.2.3:443`); then any other
    // spelling that stands as a token of its own (`FD00:1:2:3:0:0:0:4`).
    const withoutLiterals = literals.reduce((t, pattern) => t.replace(pattern, truncated), text);
    return withoutLiterals.replace(ADDRESS_LIKE_TOKEN, (token) => {
      const core = token.replace(/[.:]+$/, '');
      return core !== '' && addressKey(core) === client ? truncated + token.slice(core.length) : token;
    });
  };
  return {
    ...result,
    explanation: scrub(result.explanation),
    advice: result.advice.map(scrub),
    evidence: { ...evidence, clientAddress: truncated, clientPort: 0 },
  };
}

/** Runs of hex digits, colons and dots with at least one separator: every way to write an address, and more. */
const ADDRESS_LIKE_TOKEN = /[0-9A-Fa-f]*(?:[:.][0-9A-Fa-f]*)+/g;

/** One text per address however written: dotted for IPv4 (IPv4-mapped included), canonical for IPv6. */
function addressKey(text: string): string | undefined {
  if (!text.includes(':')) {
    const ipv4 = parseIpv4Text(text);
    return ipv4 && formatIpv4(ipv4);
  }
  const ipv6 = parseIpv6Text(text);
  if (!ipv6) return undefined;
  const mapped = ipv4InMapped(ipv6);
  return mapped ? formatIpv4(mapped) : formatIpv6(ipv6);
}

/**
 * Patterns of the usual spellings, `::ffff:10.1.2.3` before `10.1.2.3`. They must not continue a longer number
 * (`10.1.2.30`, `110.1.2.3`), which would be another address; anything else around them is fine.
 */
function usualSpellings(key: string): RegExp[] {
  const text = escapeRegExp(key);
  if (key.includes(':')) return [new RegExp(`(?<![0-9A-Fa-f])${text}(?![0-9A-Fa-f])`, 'gi')];
  return [new RegExp(`(?<![0-9A-Fa-f])::ffff:${text}(?![0-9])`, 'gi'), new RegExp(`(?<![0-9])${text}(?![0-9])`, 'g')];
}

function withoutZone(text: string): string {
  const percent = text.indexOf('%');
  return percent < 0 ? text : text.slice(0, percent);
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}
