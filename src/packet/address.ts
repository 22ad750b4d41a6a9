/** Raw address bytes: 4 for IPv4, 16 for IPv6. Reprs carry text (as users and tshark write it); views carry bytes. */
export type IpAddress = Uint8Array;

export function formatIpv4(b: Uint8Array, o = 0): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 canonical text: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIpv6(b: Uint8Array, o = 0): string {
  // Written without arrays: every IPv6 packet formats two addresses, so this is on the decode hot path.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (b[o + 2 * i] !== 0 || b[o + 2 * i + 1] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && b[o + 2 * j] === 0 && b[o + 2 * j + 1] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped addresses keep their dotted tail, as tshark and the kernel print them.
  if (bestStart === 0 && bestLen === 5 && b[o + 10] === 0xff && b[o + 11] === 0xff) return `::ffff:${formatIpv4(b, o + 12)}`;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s !== '' && !s.endsWith(':')) s += ':';
    s += ((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!).toString(16);
  }
  return s;
}

export function formatIp(b: IpAddress): string {
  return b.length === 4 ? formatIpv4(b) : formatIpv6(b);
}

export function parseIpv4Text(text: string): IpAddress | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

export function parseIpv6Text(text: string): IpAddress | undefined {
  let head = text;
  let tailV4: IpAddress | undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.indexOf('.', lastColon) > 0) {
    tailV4 = parseIpv4Text(text.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]!);
  const right = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!left || !right) return undefined;
  const groups = halves.length === 2 ? left.length + right.length : left.length;
  if (halves.length === 2 ? groups > 7 : groups !== 8) return undefined;
  const all = [...left, ...new Array<number>(8 - groups).fill(0), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i]! >>> 8;
    out[2 * i + 1] = all[i]! & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

export function parseIpText(text: string): IpAddress | undefined {
  return text.includes(':') ? parseIpv6Text(text) : parseIpv4Text(text);
}

export function formatMac(b: Uint8Array, o = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const v = b[o + i]!;
    s += (i ? ':' : '') + (v < 16 ? '0' : '') + v.toString(16);
  }
  return s;
}

export function parseMac(text: string): Uint8Array | undefined {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return undefined;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Emit-side conversion: reprs are built by our own code, so a bad address here is a programming error. */
export function ipBytes(text: string, family: 4 | 6): IpAddress {
  const b = family === 4 ? parseIpv4Text(text) : parseIpv6Text(text);
  if (!b) throw new RangeError(`not an IPv${family} address: ${JSON.stringify(text)}`);
  return b;
}

/** The address with every bit after the first `prefixLength` cleared (its network, as in 10.1.2.0/24). */
export function maskAddress(address: IpAddress, prefixLength: number): IpAddress {
  const out = new Uint8Array(address.length);
  for (let i = 0; i < address.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLength - 8 * i));
    out[i] = address[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** The IPv4 address inside `::ffff:a.b.c.d` (::ffff:0:0/96), undefined for any other IPv6 address. */
export function ipv4InMapped(ipv6: Uint8Array | undefined): Uint8Array | undefined {
  if (!ipv6) return undefined;
  for (let i = 0; i < 10; i++) if (ipv6[i] !== 0) return undefined;
  if (ipv6[10] !== 0xff || ipv6[11] !== 0xff) return undefined;
  return ipv6.slice(12);
}
