import { cidrsOverlap, formatCidr, hostInNetwork, networkOf, parseCidr, prefixText, sameAddress, type Cidr } from '../packet/cidr.js';
import { familyName, IP_FAMILIES, type IpFamily } from '../packet/ip-family.js';
import type { LabFileError } from './lab-spec-error.js';
import type { LabSpec } from './spec.js';

/** One family's addressing of one link: its subnet and both ends' interface addresses. */
export interface LinkFamilyAddressing {
  readonly subnet: Cidr;
  readonly ends: readonly [Cidr, Cidr];
}

export interface LinkAddressing {
  readonly ipv4: LinkFamilyAddressing;
  readonly ipv6: LinkFamilyAddressing;
}

export interface LabAddressing {
  readonly links: readonly LinkAddressing[];
  readonly errors: readonly LabFileError[];
}

/** The n-th automatic subnet (n >= 1): 10.0.1.0/24, 10.0.2.0/24, ... 10.1.0.0/24 ...; fd00:0:0:1::/64 ... */
function autoSubnet(family: IpFamily, n: number): Cidr {
  if (family === 4) return { family, address: Uint8Array.of(10, n >> 8, n & 0xff, 0), prefixLength: 24 };
  const address = new Uint8Array(16);
  address[0] = 0xfd;
  address[6] = n >> 8;
  address[7] = n & 0xff;
  return { family, address, prefixLength: 64 };
}

const MAX_AUTO_SUBNETS = 0xffff;

interface Reserved {
  readonly cidr: Cidr;
  readonly what: string;
}

/**
 * Decides every link's addresses. User-given addresses stay as given; a link's missing addresses come from the
 * automatic subnet numbered after the link (link i: 10.0.(i+1).0/24, fd00:0:0:(i+1)::/64, first end .1/::1,
 * second .2/::2), moving on to the next free number while that one overlaps a user-given subnet, a loopback
 * address or an earlier automatic subnet: adding an address somewhere never renumbers links that do not clash.
 * Expects a spec whose addresses already parse (validateLabSpec checks that first).
 */
export function assignAddresses(spec: LabSpec): LabAddressing {
  const errors: LabFileError[] = [];
  const families = IP_FAMILIES.map((family) => assignFamily(spec, family, errors));
  return { links: spec.links.map((_, i) => ({ ipv4: families[0]![i]!, ipv6: families[1]![i]! })), errors };
}

function assignFamily(spec: LabSpec, family: IpFamily, errors: LabFileError[]): LinkFamilyAddressing[] {
  const key = familyName(family);
  const reserved: Reserved[] = [];
  const userSubnets: (Cidr | undefined)[] = [];

  spec.links.forEach((link, i) => {
    const given = link.endpoints.map((e) => (e[key] !== undefined ? parseCidr(e[key]) : undefined));
    const first = given.findIndex((g) => g !== undefined);
    if (first < 0) {
      userSubnets.push(undefined);
      return;
    }
    const subnet = networkOf(given[first]!);
    const path = `links[${i}].endpoints[${first}].${key}`;
    for (const r of reserved) {
      if (cidrsOverlap(r.cidr, subnet)) errors.push({ path, message: `subnet ${formatCidr(subnet)} overlaps ${r.what}` });
    }
    reserved.push({ cidr: subnet, what: `the subnet ${formatCidr(subnet)} of links[${i}]` });
    userSubnets.push(subnet);
  });

  spec.nodes.forEach((node, n) => {
    (node.loopbackAddresses ?? []).forEach((text, j) => {
      const c = parseCidr(text);
      if (!c || c.family !== family) return;
      for (const r of reserved) {
        // Loopbacks may overlap one another (anycast, or a /32 inside another node's /24): longest match sorts
        // that out. A link subnet that overlaps one would capture its traffic on the link instead.
        if (r.what.startsWith('the subnet') && cidrsOverlap(r.cidr, c)) {
          errors.push({ path: `nodes[${n}].loopbackAddresses[${j}]`, message: `${text} overlaps ${r.what}` });
        }
      }
      reserved.push({ cidr: networkOf(c), what: `loopback address ${text} of node "${node.name}"` });
    });
  });

  const autoTaken = new Set<number>();
  return spec.links.map((link, i) => {
    const given = link.endpoints.map((e) => (e[key] !== undefined ? parseCidr(e[key]) : undefined));
    const subnet = userSubnets[i];
    if (subnet) {
      const ends = given.map((g, e) => g ?? otherEnd(subnet, given[1 - e]!, `links[${i}].endpoints[${1 - e}].${key}`, errors));
      return { subnet, ends: [ends[0]!, ends[1]!] };
    }
    let n = i + 1;
    while (n <= MAX_AUTO_SUBNETS && (autoTaken.has(n) || reserved.some((r) => cidrsOverlap(r.cidr, autoSubnet(family, n))))) n++;
    if (n > MAX_AUTO_SUBNETS) {
      errors.push({ path: `links[${i}]`, message: `no free automatic IPv${family} subnet is left` });
      n = i + 1;
    }
    autoTaken.add(n);
    const auto = autoSubnet(family, n);
    return { subnet: auto, ends: [hostInNetwork(auto, 1), hostInNetwork(auto, 2)] };
  });
}

/** The first usable address of `subnet` that the given end does not already have. */
function otherEnd(subnet: Cidr, given: Cidr, path: string, errors: LabFileError[]): Cidr {
  const hostBits = subnet.address.length * 8 - subnet.prefixLength;
  if (hostBits === 0) {
    errors.push({ path, message: `${prefixText(given)} leaves no address for the other end of the link; give both ends` });
    return given;
  }
  const candidates = hostBits === 1 ? [0, 1] : [1, 2];
  const pick = candidates.map((o) => hostInNetwork(subnet, o)).find((c) => !sameAddress(c.address, given.address));
  return pick!;
}
