import { formatIpv4, formatIpv6, formatMac } from './address.js';

/**
 * Address text for the decoder's hot path: formatIpv4, formatIpv6 and formatMac behind small direct-mapped caches.
 * A capture repeats a few addresses in nearly every packet, and formatting one costs a dozen string concatenations
 * (and their flattening when the text is written out); a hit costs a hash and a compare. Each slot holds the last
 * address that hashed to it, so memory is fixed and a miss simply formats.
 */
const SLOTS = 4096;
const MASK = SLOTS - 1;

const v4Keys = new Float64Array(SLOTS).fill(-1);
const v4Texts: string[] = new Array<string>(SLOTS).fill('');

const macKeys = new Float64Array(SLOTS).fill(-1);
const macTexts: string[] = new Array<string>(SLOTS).fill('');

/** Four 32-bit words per slot; `v6Used` says the slot holds an address at all. */
const v6Keys = new Uint32Array(SLOTS * 4);
const v6Used = new Uint8Array(SLOTS);
const v6Texts: string[] = new Array<string>(SLOTS).fill('');

function word(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Spreads a 32-bit value over the slots (Knuth's multiplicative hash). */
function slotOf(x: number): number {
  return (Math.imul(x, 0x9e3779b1) >>> 20) & MASK;
}

/** formatIpv4(b, o), cached. */
export function ipv4Text(b: Uint8Array, o = 0): string {
  const key = word(b, o);
  const slot = slotOf(key);
  if (v4Keys[slot] === key) return v4Texts[slot]!;
  const text = flat(formatIpv4(b, o));
  v4Keys[slot] = key;
  v4Texts[slot] = text;
  return text;
}

/** formatMac(b, o), cached. */
export function macText(b: Uint8Array, o = 0): string {
  const high = (b[o]! << 8) | b[o + 1]!;
  const low = word(b, o + 2);
  const key = high * 0x1_0000_0000 + low;
  const slot = slotOf(low ^ Math.imul(high, 0x85ebca6b));
  if (macKeys[slot] === key) return macTexts[slot]!;
  const text = flat(formatMac(b, o));
  macKeys[slot] = key;
  macTexts[slot] = text;
  return text;
}

/** formatIpv6(b, o), cached. */
export function ipv6Text(b: Uint8Array, o = 0): string {
  const w0 = word(b, o);
  const w1 = word(b, o + 4);
  const w2 = word(b, o + 8);
  const w3 = word(b, o + 12);
  const slot = slotOf(w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f));
  const k = slot * 4;
  if (v6Used[slot] === 1 && v6Keys[k] === w0 && v6Keys[k + 1] === w1 && v6Keys[k + 2] === w2 && v6Keys[k + 3] === w3) return v6Texts[slot]!;
  const text = flat(formatIpv6(b, o));
  v6Keys[k] = w0;
  v6Keys[k + 1] = w1;
  v6Keys[k + 2] = w2;
  v6Keys[k + 3] = w3;
  v6Used[slot] = 1;
  v6Texts[slot] = text;
  return text;
}

/**
 * The same text as one flat string: a string built by concatenation is a tree that V8 copies out again each time
 * it is written; a cached one is flattened once here, by reading a character of it.
 */
function flat(text: string): string {
  if (text.length > 0) text.charCodeAt(0);
  return text;
}
