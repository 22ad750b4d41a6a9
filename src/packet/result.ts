/**
 * Every decoder in mtuscope returns a value or a DecodeError; none throws on malformed bytes.
 * Offsets are relative to the start of the bytes handed to the decoder that failed; the frame
 * decoder rebases them to the start of the frame so a user can find the byte in a hex dump.
 */
export interface DecodeError {
  readonly protocol: string;
  readonly field: string;
  readonly offset: number;
  readonly reason: string;
  /**
   * Set when the bytes simply stop early (a header or length runs past the end of the buffer). For a
   * capture cut by its snaplen this is truncation, not corruption; the frame decoder knows which.
   */
  readonly short?: boolean;
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: DecodeError };

export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

export type Failed = { readonly ok: false; readonly error: DecodeError };

export function fail(protocol: string, field: string, offset: number, reason: string): Failed {
  return { ok: false, error: { protocol, field, offset, reason } };
}

/** A failure because the buffer ends before the field does. */
export function short(protocol: string, field: string, offset: number, reason: string): Failed {
  return { ok: false, error: { protocol, field, offset, reason, short: true } };
}

export function rebase(error: DecodeError, base: number): DecodeError {
  return base === 0 ? error : { ...error, offset: error.offset + base };
}

export function formatDecodeError(error: DecodeError): string {
  return `${error.protocol}.${error.field} at offset ${error.offset}: ${error.reason}`;
}
