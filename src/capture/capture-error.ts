/**
 * A capture file that is malformed or cut short. The reader throws it after yielding every packet that
 * precedes the bad spot. `offset` counts bytes from the start of the file and points at the start of the
 * file header, record or block that is wrong, so `xxd -s OFFSET` shows it.
 */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';

  constructor(
    /** What is wrong, without the position. */
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`${reason} at byte offset ${offset}`);
  }
}
