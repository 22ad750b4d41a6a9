/**
 * What an `iperf3 -c ... -J` run reports (iperf 3.12's JSON), reduced to what a benchmark compares: the stream's
 * throughput as the receiver counted it, the sender's retransmissions, and how long it ran. Hostile or truncated output
 * becomes an error value naming what was missing, never an exception: iperf3 prints a JSON object with an `error`
 * field (and may still exit 0) when it cannot connect or the test breaks off.
 */

export interface Iperf3Result {
  /** Bits per second the receiver got (end.sum_received). */
  readonly receivedBitsPerSecond: number;
  readonly receivedBytes: number;
  /** Seconds the receiver counted over. */
  readonly seconds: number;
  /** Bits per second the sender wrote (end.sum_sent). */
  readonly sentBitsPerSecond: number;
  /** TCP retransmissions of the sender (end.sum_sent.retransmits); undefined when iperf3 does not report them. */
  readonly retransmits: number | undefined;
  /** The MSS iperf3 saw (start.tcp_mss_default), when given. */
  readonly mss: number | undefined;
}

export type ParsedIperf3 = { readonly ok: true; readonly value: Iperf3Result } | { readonly ok: false; readonly error: string };

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Parses the JSON iperf3 -J prints on the client. */
export function parseIperf3Json(text: string): ParsedIperf3 {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `iperf3 printed no JSON (${(err as Error).message}): ${text.slice(0, 200)}` };
  }
  const top = object(root);
  if (top === undefined) return { ok: false, error: 'iperf3 JSON is not an object' };
  if (typeof top['error'] === 'string') return { ok: false, error: `iperf3: ${top['error']}` };
  const end = object(top['end']);
  if (end === undefined) return { ok: false, error: 'iperf3 JSON has no "end" object' };
  const received = object(end['sum_received']);
  const sent = object(end['sum_sent']);
  if (received === undefined || sent === undefined) return { ok: false, error: 'iperf3 JSON has no end.sum_received or end.sum_sent (not a TCP test?)' };
  const receivedBitsPerSecond = finite(received['bits_per_second']);
  const receivedBytes = finite(received['bytes']);
  const seconds = finite(received['seconds']);
  const sentBitsPerSecond = finite(sent['bits_per_second']);
  if (receivedBitsPerSecond === undefined || receivedBytes === undefined || seconds === undefined || sentBitsPerSecond === undefined) {
    return { ok: false, error: 'iperf3 JSON lacks a number in end.sum_received (bits_per_second, bytes, seconds) or end.sum_sent.bits_per_second' };
  }
  if (receivedBitsPerSecond < 0 || receivedBytes < 0 || seconds <= 0) {
    return { ok: false, error: `iperf3 JSON has impossible figures: ${receivedBytes} bytes in ${seconds} s` };
  }
  return {
    ok: true,
    value: {
      receivedBitsPerSecond,
      receivedBytes,
      seconds,
      sentBitsPerSecond,
      retransmits: finite(sent['retransmits']),
      mss: finite(object(top['start'])?.['tcp_mss_default']),
    },
  };
}
