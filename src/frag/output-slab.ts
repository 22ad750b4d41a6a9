/** Output buffers larger than this get an ArrayBuffer of their own. */
const CHUNK = 64 * 1024;
const OWN_BUFFER = CHUNK / 4;

/**
 * Buffers for completed datagrams, carved from zero-filled 64 KiB chunks like Node's Buffer pool carves small
 * Buffers from 8 KiB: a view costs nanoseconds, a fresh ArrayBuffer about a microsecond. Each datagram is a view of
 * its own bytes, but keeping one alive keeps its chunk alive; callers that keep many datagrams for long can copy them
 * (`slice()`). (Chunks must be zero-filled: any view's `.buffer` exposes the whole chunk at once.)
 */
export class OutputSlab {
  private chunk: ArrayBuffer | null = null;
  private offset = 0;

  take(length: number): Uint8Array {
    if (length > OWN_BUFFER) return new Uint8Array(length);
    if (this.chunk === null || this.offset + length > CHUNK) {
      this.chunk = new ArrayBuffer(CHUNK);
      this.offset = 0;
    }
    const view = new Uint8Array(this.chunk, this.offset, length);
    // 8-byte alignment, so that callers may lay wider typed arrays over a datagram.
    this.offset += (length + 7) & ~7;
    return view;
  }
}
