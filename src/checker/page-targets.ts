/**
 * Which address of the server the web page tests each family against, or why it cannot test a family. The page's own
 * family is tested where the page came from; the other family needs an address of the server that a client can
 * reach: a configured URL (--ipv4-url / --ipv6-url), else a specific listen address, else (for a wildcard listen)
 * one of the host's own addresses. Loopback and link-local addresses reach only the host itself or its link, so they
 * are taken only when the page itself was loaded over such an address; an IPv6 link-local address never, since a
 * browser accepts no zone (fe80::1%eth0) in a URL.
 */
import { parseIpv4Text, parseIpv6Text } from '../packet/address.js';
import { type FamilyMap, familyLabel, familyMap, familyOfAddress, type IpFamily } from '../packet/ip-family.js';
import type { PageTarget } from './web-page.js';
import { serviceUrl } from './service-url.js';

/** How far an address reaches, from the best candidate for a test URL to the worst. */
export type AddressReach = 'global' | 'private' | 'link-local' | 'loopback' | 'none';

/**
 * `global`: public unicast (IPv6 2000::/3); `private`: RFC 1918, 100.64/10 and IPv6 ULA fc00::/7, reachable within a
 * site; `none`: not an address a client can connect to (unspecified, multicast, broadcast, IPv4-mapped, other IPv6).
 */
export function addressReach(address: string): AddressReach {
  const v4 = parseIpv4Text(address);
  if (v4 !== undefined) {
    const [a = 0, b = 0] = v4;
    if (a === 127) return 'loopback';
    if (a === 169 && b === 254) return 'link-local';
    if (a === 0 || a >= 224) return 'none';
    if (a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128)) return 'private';
    return 'global';
  }
  const v6 = parseIpv6Text(address.split('%')[0] ?? '');
  if (v6 === undefined) return 'none';
  const [a = 0, b = 0] = v6;
  if (v6.every((byte, i) => byte === (i === 15 ? 1 : 0))) return 'loopback';
  if (a === 0xfe && (b & 0xc0) === 0x80) return 'link-local';
  if ((a & 0xfe) === 0xfc) return 'private';
  if ((a & 0xe0) === 0x20) return 'global';
  return 'none';
}

const REACH_ORDER: readonly AddressReach[] = ['global', 'private', 'link-local', 'loopback'];

export interface PageTargetsInput {
  /** --ipv4-url / --ipv6-url. */
  readonly configured: FamilyMap<string | undefined>;
  /** The addresses the server listens on (0.0.0.0 and :: for every address of the family). */
  readonly listening: readonly string[];
  /** The host's own addresses (all interfaces), the candidates of a wildcard listen. */
  readonly hostAddresses: readonly string[];
  readonly port: number;
  /** The server's address the page was loaded over. */
  readonly pageAddress: string;
  /** The Host header of the page's request: the page's own family's tests go where the page came from. */
  readonly hostHeader: string | undefined;
}

/** A family the page does not test, and why, in a sentence that says how to make it tested. */
export interface UntestedFamily {
  readonly family: IpFamily;
  readonly reason: string;
}

export interface PageTargets {
  readonly targets: readonly PageTarget[];
  readonly untested: readonly UntestedFamily[];
  /** The server's addresses the page's capture filters and route commands name. */
  readonly serverAddresses: FamilyMap<readonly string[]>;
}

const WILDCARD: FamilyMap<string> = { 4: '0.0.0.0', 6: '::' };

/** Why no address of `family` is usable (the server listens on it), as the start of a sentence. */
function noUsableAddress(family: IpFamily, wildcard: boolean, specific: readonly string[]): string {
  if (wildcard) return `this host has no ${familyLabel(family)} address that clients can reach (only loopback or link-local ones, or none)`;
  return `the server listens on ${familyLabel(family)} only at ${specific.join(', ')}, which clients cannot reach`;
}

export function pageTargets(input: PageTargetsInput): PageTargets {
  const { configured, listening, hostAddresses, port, pageAddress, hostHeader } = input;
  const pageFamily = familyOfAddress(pageAddress);
  const pageReach = addressReach(pageAddress);
  const usable = (address: string): boolean => {
    const reach = addressReach(address);
    if (reach === 'global' || reach === 'private') return true;
    if (reach === 'link-local' && familyOfAddress(address) === 6) return false;
    return reach !== 'none' && reach === pageReach;
  };
  const targets: PageTarget[] = [];
  const untested: UntestedFamily[] = [];
  const serverAddresses = familyMap<string[]>(() => []);
  for (const family of [4, 6] as const) {
    const ofFamily = listening.filter((a) => familyOfAddress(a) === family);
    const specific = ofFamily.filter((a) => a !== WILDCARD[family]);
    const wildcard = ofFamily.includes(WILDCARD[family]);
    serverAddresses[family].push(...specific);
    if (family === pageFamily && !serverAddresses[family].includes(pageAddress)) serverAddresses[family].push(pageAddress);
    const add = (baseUrl: string): void => {
      targets.push({ family, label: familyLabel(family), baseUrl });
    };
    const configuredUrl = configured[family];
    if (configuredUrl !== undefined) {
      add(configuredUrl);
      continue;
    }
    if (family === pageFamily) {
      add(hostHeader !== undefined ? `http://${hostHeader}` : serviceUrl(pageAddress, port));
      continue;
    }
    const flag = `--ipv${family}-url`;
    if (ofFamily.length === 0) {
      untested.push({ family, reason: `${familyLabel(family)} is not tested: the server does not listen on ${familyLabel(family)}. Set ${flag} to the URL of a server that does.` });
      continue;
    }
    const candidates = [...specific, ...(wildcard ? hostAddresses.filter((a) => familyOfAddress(a) === family) : [])].filter(usable);
    candidates.sort((x, y) => REACH_ORDER.indexOf(addressReach(x)) - REACH_ORDER.indexOf(addressReach(y)));
    const chosen = candidates[0];
    if (chosen === undefined) {
      untested.push({ family, reason: `${familyLabel(family)} is not tested: ${noUsableAddress(family, wildcard, specific)}. Set ${flag} to a URL of this server that clients reach over ${familyLabel(family)}.` });
      continue;
    }
    add(serviceUrl(chosen, port));
    if (!serverAddresses[family].includes(chosen)) serverAddresses[family].push(chosen);
  }
  return { targets, untested, serverAddresses };
}
