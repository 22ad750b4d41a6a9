import type { Explanation } from './explain.js';
import type { CheckerTest, RequestStall, TestEvidence, Verdict } from './test-result.js';

function pingCommand(e: TestEvidence): string {
  // The largest packet of a 1500-byte link: 1472 + 8 + 20 bytes, and 1452 + 8 + 40.
  return e.family === 'ipv4' ? `ping -M do -s 1472 -c 3 ${e.serverAddress}` : `ping -6 -M do -s 1452 -c 3 ${e.serverAddress}`;
}

function advice(e: TestEvidence): string[] {
  return [
    `\`${pingCommand(e)}\` sends full-size packets with DF: no reply means they die on the way; lower -s until replies come (the largest that passes, plus ${e.family === 'ipv4' ? 28 : 48} bytes, is your path MTU), and \`tracepath -n ${e.serverAddress}\` shows where.`,
    'Enable MTU probing so that your host finds a size that passes by itself: `sysctl -w net.ipv4.tcp_mtu_probing=1` (it covers IPv6 too).',
    'Ask whoever runs the router in front of the smaller link to send ICMP "fragmentation needed" / "Packet Too Big", and the firewalls on the way to let it through; clamping the MSS on that router hides the problem for TCP.',
  ];
}

function whatArrived(s: RequestStall, seconds: number): string {
  if (!s.requestLineSeen && s.bytesReceived === 0) {
    return `In ${seconds} s not even the start of your request reached the server (it took the upload for this test, the only one that takes a body)`;
  }
  return `In ${seconds} s only the first ${s.bytesReceived} bytes of your request reached the server in order`;
}

/**
 * The sentence and next steps of a test decided on a request that never arrived whole, when the server itself dropped
 * nothing (see stalled-request-verdict.ts): every figure is one the server measured.
 */
export function explainStalledRequest(test: CheckerTest, verdict: Verdict, e: TestEvidence, s: RequestStall): Explanation {
  const seconds = Math.round(e.durationMs / 1000);
  const gap = s.bytesSeen > s.bytesReceived;
  const later = `later bytes of it (up to byte ${s.bytesSeen}) did arrive, in packets of at most ${e.largestClientPacket} bytes`;
  if (test !== 'icmp') {
    const unsent = test === 'frag' ? 'nothing was sent as fragments' : 'no full-size response was sent';
    return {
      explanation: `${whatArrived(s, seconds)}${gap ? `, although ${later}: your larger packets are lost on the way to the server (a PMTU black hole on your side)` : ', and nothing after them'}. The server never answered the request, so ${unsent} and nothing was tested.`,
      advice: [...advice(e), 'Run the test again with a smaller request (fewer or shorter headers).'],
    };
  }
  if (verdict === 'blackhole') {
    return {
      explanation: `${whatArrived(s, seconds)}, although ${later}: your larger packets (the MSS you announced allows ${e.clientMss === null ? 'an unknown size' : `${e.clientMss + (e.family === 'ipv4' ? 40 : 60)} bytes`}) are lost before they reach the server, and your host did not switch to smaller ones, so its large uploads stall: a PMTU black hole on your side of the path. The server dropped nothing and sent no Packet Too Big itself.`,
      advice: advice(e),
    };
  }
  return {
    explanation: `${whatArrived(s, seconds)} and nothing after them (largest packet ${e.largestClientPacket} bytes, none larger than the test MTU of ${e.testMtu}): either your larger packets are lost on the way (a PMTU black hole) or your client stopped sending, and the server cannot tell which, so there was nothing to test.`,
    advice: [...advice(e), 'Run the test again; `curl --data @payload.bin` sends the whole body at once.'],
  };
}
