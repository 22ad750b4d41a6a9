import { formatIpv4, formatIpv6, ipv4InMapped, maskAddress, parseIpv4Text, parseIpv6Text } from '../packet/address.js';
import { familyName, type IpFamily } from '../packet/ip-family.js';

// The prefixes anonymised logs commonly keep: enough to tell networks and providers apart (which is what
// statistics about broken paths need), too short to single out a subscriber.
const IPV4_PREFIX_LENGTH = 24;
const IPV6_PREFIX_LENGTH = 48;

/**
 * The network a client address belongs to, as a prefix: `10.1.2.3` → `10.1.2.0/24`,
 * `fd00:1:2:3::4` → `fd00:1:2::/48`. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, how a dual-stack socket
 * reports an IPv4 peer) is an IPv4 client and becomes `10.1.2.0/24`; a zone (`fe80::1%eth0`) is dropped.
 * Throws a RangeError for text that is no address, or an address of the other family than `family`: storing it
 * as given could keep the very address the caller asked to hide.
 */
export function truncateAddress(address: string, family: IpFamily): string {
  const text = withoutZone(address.trim());
  const ipv4 = text.includes(':') ? ipv4InMapped(parseIpv6Text(text)) : parseIpv4Text(text);
  if (ipv4) {
    if (family === 6 && !text.includes(':')) throw mismatch(address, family);
    return `${formatIpv4(maskAddress(ipv4, IPV4_PREFIX_LENGTH))}/${IPV4_PREFIX_LENGTH}`;
  }
  const ipv6 = text.includes(':') ? parseIpv6Text(text) : undefined;
  if (!ipv6) throw new RangeError(`cannot truncate client address ${JSON.stringify(address)}: not an IPv4 or IPv6 address`);
  if (family === 4) throw mismatch(address, family);
  return `${formatIpv6(maskAddress(ipv6, IPV6_PREFIX_LENGTH))}/${IPV6_PREFIX_LENGTH}`;
}

function withoutZone(text: string): string {
  const percent = text.indexOf('%');
  return percent < 0 ? text : text.slice(0, percent);
}

function mismatch(address: string, family: IpFamily): RangeError {
  return new RangeError(`cannot truncate client address ${JSON.stringify(address)}: not an ${familyName(family)} address`);
}
