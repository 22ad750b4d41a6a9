import { familyFromName, familyMap } from '../packet/ip-family.js';
import { explainStalledRequest } from './explain-stall.js';
import { type CaptureFilterId, clientCaptureFilters } from './tcpdump-filters.js';
import type { CheckerTest, TestEvidence, Verdict } from './test-result.js';

export interface Explanation {
  readonly explanation: string;
  readonly advice: readonly string[];
}

function routeCommands(e: TestEvidence): { get: string; flush: string } {
  const six = e.family === 'ipv6' ? ' -6' : '';
  return { get: `ip${six} route get ${e.serverAddress}`, flush: `ip${six} route flush cache to ${e.serverAddress}` };
}

function ptbName(e: TestEvidence): string {
  return e.family === 'ipv4' ? 'ICMP "fragmentation needed" (type 3 code 4)' : 'ICMPv6 "Packet Too Big" (type 2)';
}

/** The web page's tcpdump command for this test and family, narrowed to the server's address, as a code span. */
function captureCommand(e: TestEvidence, test: CheckerTest): string {
  const id: CaptureFilterId =
    test === 'icmp' ? (e.family === 'ipv4' ? 'icmp-frag-needed' : 'icmpv6-packet-too-big') : e.family === 'ipv4' ? 'ipv4-fragments' : 'ipv6-fragments';
  const family = familyFromName(e.family);
  const filters = clientCaptureFilters(familyMap((f) => (f === family ? [e.serverAddress] : [])));
  const found = filters.find((f) => f.id === id);
  if (found === undefined) throw new Error(`no capture filter ${id}`);
  return `\`${found.command}\``;
}

function ms(v: number | null): string {
  return v === null ? 'an unknown time' : `${v} ms`;
}

function fragUrl(e: TestEvidence): string {
  const host = e.family === 'ipv6' ? `[${e.serverAddress}]` : e.serverAddress;
  return `http://${host}:${e.serverPort}/frag`;
}

/** /frag when no fragment was ever sent: there is nothing to say about fragments on the client's path. */
function fragNothingTested(e: TestEvidence): Explanation {
  if (e.fragmentsSuppressed > 0) {
    return {
      explanation: `The server's fragment rate limit held back all ${e.fragmentsSuppressed} fragments it would have sent you, so nothing reached you as fragments and there was nothing to test.`,
      advice: ['Wait a minute and run the test again, one test at a time.'],
    };
  }
  return {
    explanation: 'The server sent none of this response as IP fragments (and no rate limit held any back): the test did not run on this connection, so there was nothing to test.',
    advice: [`Run the test again as the first request of a new connection, as \`curl ${fragUrl(e)}\` does.`],
  };
}

/** The sentence and the next steps that go with a verdict, filled in with this run's figures. */
export function explain(test: CheckerTest, verdict: Verdict, e: TestEvidence, windowMs: number): Explanation {
  // A stalled request on which the server dropped nothing: what did not arrive is the story (packets it dropped are told below).
  if (e.requestStall !== undefined && e.oversizedPackets === 0 && e.oversizedWithoutDf === 0) return explainStalledRequest(test, verdict, e, e.requestStall);
  const route = routeCommands(e);
  const mtu = e.testMtu;
  if (test === 'frag') {
    if (verdict === 'pass') {
      return {
        explanation: `Your host acknowledged data that reached it only as IP fragments (${e.fragmentsSent} fragments for ${e.segmentsFragmented} segments, at most ${mtu} bytes each): fragments get through to you on this path.`,
        advice: [`Watch them arrive with: ${captureCommand(e, 'frag')}`],
      };
    }
    if (verdict === 'inconclusive') return fragNothingTested(e);
    return {
      explanation: `Your host never acknowledged data sent as IP fragments (${e.fragmentsSent} fragments for ${e.segmentsFragmented} segments, ${e.retransmissions} retransmissions), so the server sent it whole: something between you and the server drops IP fragments.`,
      advice: [
        `Check whether fragments arrive at all: ${captureCommand(e, 'frag')}`,
        'Look for firewalls, NATs or load balancers on the path that drop fragments (a rule matching ports drops every fragment but the first).',
        'Anything that relies on fragments will fail on this path: large DNS answers over UDP (keep the EDNS buffer size at 1232), UDP-based VPNs and tunnels without their own fragmentation.',
      ],
    };
  }
  switch (verdict) {
    case 'pass':
      return {
        explanation: `Your host received our ${ptbName(e)} announcing MTU ${mtu} and re-sent the data in packets that fit ${ms(e.reactionMs)} later: path MTU discovery works for you.`,
        advice: [
          `\`${route.get}\` now shows "mtu ${mtu}": your kernel cached the lowered path MTU for this server.`,
          `\`${route.flush}\` forgets it again (run it before repeating the test).`,
        ],
      };
    case 'pass-probing':
      return {
        explanation: `Your host did not act on our ${ptbName(e)} messages (${e.packetTooBigSent} sent), but ${ms(e.reactionMs)} after the first one its own MTU probing (RFC 4821) shrank its packets so that they fit: large transfers survive, after a stall.`,
        advice: [
          `Find what drops or ignores ICMP between you and the server; this shows whether any arrive: ${captureCommand(e, 'icmp')}`,
          e.family === 'ipv4'
            ? 'Allow ICMP type 3 code 4 in your firewall (`iptables -A INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT`).'
            : 'Allow ICMPv6 type 2 in your firewall (`ip6tables -A INPUT -p icmpv6 --icmpv6-type packet-too-big -j ACCEPT`); IPv6 depends on it.',
          'Keep `net.ipv4.tcp_mtu_probing=1`: it is what saved this connection (the same sysctl covers IPv6).',
        ],
      };
    case 'blackhole':
      return {
        explanation: `Your host kept sending packets larger than ${mtu} bytes for ${Math.round(windowMs / 1000)} s although we answered them with ${e.packetTooBigSent} ${ptbName(e)} messages: the message does not reach it or is ignored, so on any path with a smaller MTU your large transfers stall (a PMTU black hole).`,
        advice: [
          `See whether the ICMP messages arrive: ${captureCommand(e, 'icmp')}`,
          e.family === 'ipv4'
            ? 'If they arrive, a local firewall drops them: allow ICMP type 3 code 4 (`iptables -A INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT`); if not, a NAT or firewall on the path filters them.'
            : 'If they arrive, a local firewall drops them: allow ICMPv6 type 2 (`ip6tables -A INPUT -p icmpv6 --icmpv6-type packet-too-big -j ACCEPT`); if not, a firewall on the path filters them.',
          'As a safety net, enable MTU probing: `sysctl -w net.ipv4.tcp_mtu_probing=1`',
        ],
      };
    case 'no-df':
      return {
        explanation: `Your host sent packets larger than ${mtu} bytes without the Don't Fragment bit: it does not do path MTU discovery on this connection, so routers on smaller-MTU paths must fragment its packets.`,
        advice: [`Check \`sysctl net.ipv4.ip_no_pmtu_disc\` (0 enables path MTU discovery) and the route: \`${route.get}\` shows "mtu lock" when PMTU discovery is off for it.`],
      };
    default:
      if (e.oversizedPackets > 0) {
        return {
          explanation: `Your host sent ${e.oversizedPackets} packets larger than ${mtu} bytes, but the server's ICMP rate limit held back every Packet Too Big it would have sent, so there was nothing to test.`,
          advice: ['Wait a minute and run the test again, one test at a time.'],
        };
      }
      return {
        explanation: `Your host never sent a packet larger than ${mtu} bytes (largest ${e.largestClientPacket} bytes, MSS ${e.clientMss ?? 'not announced'}), so there was nothing to test: a clamped MSS or a small path MTU (perhaps one cached from an earlier run) explains this.`,
        advice: [
          `\`${route.get}\` shows a cached "mtu" if an earlier test lowered it; \`${route.flush}\` clears it before you retry.`,
          'An MSS below the link MTU minus 40 (IPv4) or 60 (IPv6) bytes suggests a router on the path clamps it.',
          'Send a body of at least 4 KB so that full-sized packets are needed.',
        ],
      };
  }
}
