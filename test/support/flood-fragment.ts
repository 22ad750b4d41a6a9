import { internetChecksum } from '../../src/packet/checksum.js';

/**
 * Fragments for floods (attack tests and bench/frag), written straight into `b` without the packet emitters: a
 * million of them must be cheap to make, and `b` may be reused between calls (a flood keeps nothing it was fed).
 * Sources are 10.x.y.z / fd00::x.y.z.w from the 32-bit `src`; destinations 10.0.0.2 / fd00::2. Returns the packet.
 */
export function floodFragmentV4(b: Uint8Array, src: number, ident: number, protocol: number, offset: number, more: boolean, len: number): Uint8Array {
  const total = 20 + len;
  b.fill(0, 0, 20);
  b[0] = 0x45;
  b[2] = total >> 8;
  b[3] = total & 0xff;
  b[4] = ident >> 8;
  b[5] = ident & 0xff;
  const word = (more ? 0x2000 : 0) | (offset / 8);
  b[6] = word >> 8;
  b[7] = word & 0xff;
  b[8] = 64;
  b[9] = protocol;
  b[12] = src >>> 24;
  b[13] = (src >>> 16) & 0xff;
  b[14] = (src >>> 8) & 0xff;
  b[15] = src & 0xff;
  b[16] = 10;
  b[19] = 2;
  const c = internetChecksum(b, 0, 20);
  b[10] = c >> 8;
  b[11] = c & 0xff;
  return b.subarray(0, total);
}

export function floodFragmentV6(b: Uint8Array, src: number, ident: number, offset: number, more: boolean, len: number): Uint8Array {
  b.fill(0, 0, 48);
  b[0] = 0x60;
  const plen = 8 + len;
  b[4] = plen >> 8;
  b[5] = plen & 0xff;
  b[6] = 44;
  b[7] = 64;
  b[8] = 0xfd;
  b[20] = src >>> 24;
  b[21] = (src >>> 16) & 0xff;
  b[22] = (src >>> 8) & 0xff;
  b[23] = src & 0xff;
  b[24] = 0xfd;
  b[39] = 2;
  b[40] = 17;
  const word = offset | (more ? 1 : 0);
  b[42] = word >> 8;
  b[43] = word & 0xff;
  b[44] = ident >>> 24;
  b[45] = (ident >>> 16) & 0xff;
  b[46] = (ident >>> 8) & 0xff;
  b[47] = ident & 0xff;
  return b.subarray(0, 48 + len);
}
