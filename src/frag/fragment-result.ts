import { type DecodeError, formatDecodeError } from '../packet/result.js';

/**
 * What a fragmenter returns. A refusal carries the structured error (protocol, field, offset) like every decoder in
 * src/packet, plus the same as one line of text, so callers that only log need not format it.
 */
export type FragmentResult =
  | { readonly ok: true; readonly fragments: Uint8Array[] }
  | { readonly ok: false; readonly reason: string; readonly error: DecodeError };

export type FragmentRefusal = Extract<FragmentResult, { ok: false }>;

export function refuse(protocol: string, field: string, offset: number, reason: string): FragmentRefusal {
  const error: DecodeError = { protocol, field, offset, reason };
  return { ok: false, reason: formatDecodeError(error), error };
}

export function refuseWith(error: DecodeError): FragmentRefusal {
  return { ok: false, reason: formatDecodeError(error), error };
}

/** Fragment offsets are 13 bits of 8-octet units in both families. */
export const MAX_FRAGMENT_OFFSET = 0x1fff * 8;

/** The data that fits in `room` bytes, in whole 8-octet units (every fragment but the last carries such a length). */
export function floor8(room: number): number {
  return room <= 0 ? 0 : room - (room % 8);
}
