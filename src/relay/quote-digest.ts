/**
 * A short stand-in for a quote in the relay's de-duplication key. The key held the whole quote as text (up to 1232
 * characters for an IPv6 message): V8 hashed all of it per message, and the de-duplication window kept a second's
 * worth of them alive (tens of megabytes at 50,000 messages a second), which its garbage collector then marked again
 * and again. Two 32-bit lanes over the quote's 32-bit words, seeded at random per process so that a sender cannot
 * craft a second quote that collides with a message it has not seen (and so get it dropped as a duplicate); the
 * length is part of the digest. Each step of a lane is a bijection of its state for a given word, so two quotes of
 * one length that differ in one word never collide; quotes that differ in more collide in both lanes with a
 * probability of about 2^-64.
 */
import { randomBytes } from 'node:crypto';

const SEEDS = new Uint32Array(randomBytes(8).buffer);
const SEED_A = SEEDS[0]!;
const SEED_B = SEEDS[1]!;

export function quoteDigest(b: Uint8Array): string {
  let a = SEED_A ^ b.length;
  let c = SEED_B;
  const words = b.length >>> 2;
  for (let i = 0, o = 0; i < words; i++, o += 4) {
    const w = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
    a = Math.imul(a ^ w, 0x9e3779b1);
    a ^= a >>> 15;
    c = Math.imul((c + w) | 0, 0x85ebca77);
    c ^= c >>> 13;
  }
  let tail = 0;
  for (let o = words * 4; o < b.length; o++) tail = (tail << 8) | b[o]!;
  a = Math.imul(a ^ tail, 0x9e3779b1);
  a ^= a >>> 15;
  c = Math.imul((c + tail) | 0, 0x85ebca77);
  c ^= c >>> 13;
  return `${b.length}:${(a >>> 0).toString(36)}:${(c >>> 0).toString(36)}`;
}
