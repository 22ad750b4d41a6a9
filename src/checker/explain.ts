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
  const ids: Readonly<Record<CheckerTest, readonly [CaptureFilterId, CaptureFilterId]>> = {
    icmp: ['icmp-frag-needed', 'icmpv6-packet-too-big'],
    frag: ['ipv4-fragments', 'ipv6-fragments'],
    download: ['ipv4-large-tcp', 'ipv6-large-tcp'],
  };
  const id = ids[test][e.family === 'ipv4' ? 0 : 1];
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

function bytes(v: number | null): string {
  return v === null ? 'an unknown number of' : String(v);
}

/** /download: the server's own path MTU discovery toward the client. */
function explainDownload(verdict: Verdict, e: TestEvidence, windowMs: number): Explanation {
  const d = e.download;
  if (d === undefined) throw new Error('a /download result without its download evidence');
  const ptb = e.family === 'ipv4' ? 'ICMP "fragmentation needed"' : 'ICMPv6 Packet Too Big';
  const watch = `See whether full-size packets reach you: ${captureCommand(e, 'download')}`;
  switch (verdict) {
    case 'pass':
      return {
        explanation: `A router on the way to you (${d.router ?? 'unknown'}) reported an MTU of ${bytes(d.reportedMtu)} bytes for the server's ${bytes(d.fullSize)}-byte packets; its ${ptb} reached the server, which re-sent the data in packets that fit ${ms(e.reactionMs)} later: path MTU discovery toward you works.`,
        advice: [
          `The link with MTU ${bytes(d.reportedMtu)} is yours or your provider's (a tunnel, PPPoE, a VPN): \`tracepath ${e.serverAddress}\` shows where.`,
          "Servers behind an ECMP load balancer or anycast can still miss such messages (the article's scenario 3): a Packet Too Big relay fixes that.",
        ],
      };
    case 'clear':
      return {
        explanation: `Full-size packets of ${bytes(d.largestAcknowledged)} bytes (the most your MSS of ${e.clientMss ?? 'none'} allows) reached you and were acknowledged, and no router reported a smaller MTU: nothing on the path toward you is smaller, so there was nothing to discover.`,
        advice: ['Run the ICMP test (/icmp) too: it checks the other direction, your host honouring Packet Too Big.'],
      };
    case 'blackhole':
      return {
        explanation: `The server's full-size packets of ${bytes(d.fullSize)} bytes were retransmitted ${d.fullSizeRetransmissions} times without an acknowledgement and no router sent an ${ptb}: something on the way to you has a smaller MTU and its signal is lost (a PMTU black hole). The server then assumed a path MTU of ${bytes(d.rescueMtu)} bytes so that this answer still reached you; servers that do not will stall on large downloads to you.`,
        advice: [
          watch,
          `\`tracepath ${e.serverAddress}\` shows where the path gets smaller; the router there, or a firewall between it and the server, drops the ${ptb} (an ECMP load balancer in front of a server can also deliver it to the wrong one).`,
          'On a router of your own with the small link (a tunnel, PPPoE), clamping the MSS hides the problem for TCP: `iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`.',
        ],
      };
    default:
      if (d.packetTooBigReceived > 0) {
        return {
          explanation: `A router (${d.router ?? 'unknown'}) reported an MTU of ${bytes(d.reportedMtu)} bytes, but the server's packets did not shrink below it (largest afterwards ${bytes(d.largestAfterSignal)} bytes, full size ${bytes(d.fullSize)}): the message could not be tied to a reaction, so there is nothing to conclude.`,
          advice: ['Run the test again.'],
        };
      }
      if (d.fullSizeSegments === 0) {
        return {
          explanation: `The server sent no full-size packet (largest ${d.largestBeforeSignal} bytes, full size ${bytes(d.fullSize)}): its kernel already used a smaller path MTU toward you (perhaps learnt from an earlier connection), so there was nothing to test.`,
          advice: ['Run the test again in a few minutes.'],
        };
      }
      return {
        explanation: `The server sent ${d.fullSizeSegments} full-size packets but within ${Math.round(windowMs / 1000)} s neither an acknowledgement of one, nor a Packet Too Big, nor ${d.fullSizeRetransmissions < 1 ? 'any' : 'enough'} retransmissions (${d.fullSizeRetransmissions}) to call it a black hole: there is nothing to conclude.`,
        advice: ['Run the test again.', watch],
      };
  }
}

/** The sentence and the next steps that go with a verdict, filled in with this run's figures. */
export function explain(test: CheckerTest, verdict: Verdict, e: TestEvidence, windowMs: number): Explanation {
  // A stalled request on which the server dropped nothing: what did not arrive is the story (packets it dropped are told below).
  if (e.requestStall !== undefined && e.oversizedPackets === 0 && e.oversizedWithoutDf === 0) return explainStalledRequest(test, verdict, e, e.requestStall);
  if (test === 'download') return explainDownload(verdict, e, windowMs);
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
