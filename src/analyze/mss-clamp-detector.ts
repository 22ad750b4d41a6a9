import { BoundedMap } from './bounded-map.js';
import { allOf, anyOf, type CapturePoint, capturePointOf, plural } from './capture-point.js';
import type { AnalyzerLimits, Detector, Eviction, ReportContext } from './detector.js';
import { type Confidence, type EvidenceFrame, type Finding, type FlowRef, flowLabel } from './finding.js';
import { flowOf } from './flow-key.js';
import type { PacketFacts } from './packet-facts.js';

/**
 * 'mss-clamped': a middlebox rewrote the MSS option of TCP SYNs (iptables TCPMSS, a firewall, an ISP's router).
 *
 * Proof needs two capture points in one file (pcapng of `dumpcap -i eth1 -i eth2`, or `tcpdump -i any` whose SLL2
 * header names the device): the same SYN (same addresses, ports and initial sequence number) seen at both with
 * different MSS values was rewritten between them. Warning, high confidence; one finding per pair of points, pair of
 * values and segment type (SYN, SYN-ACK), counting the connections.
 *
 * At one capture point only a sign is possible: the SYN and SYN-ACK of a connection announce MSS values more than
 * MIN_DIFFERENCE apart, and the smaller one reached the capture point across at least one router (TTL below the
 * initial value it started from, and not sent by the capture host), so a router between could have lowered it. A host
 * on a smaller link legitimately announces a smaller MSS, so one such connection is info, low confidence, and says
 * both explanations; the same smaller value from three or more different hosts (all of them on links of that one
 * MTU is unlikely) is a warning with medium confidence. Connections whose SYN was seen at two points are left to the
 * two-point rule.
 */

/** A smaller MSS by this much or less is not a sign (option space, 1460 against 1448 of a timestamping stack...). */
export const MIN_DIFFERENCE = 20;
/** Distinct hosts announcing the same smaller MSS that make a clamp the likelier explanation. */
export const MANY_HOSTS = 3;
const INITIAL_TTLS = [32, 64, 128, 255] as const;
/** Sightings kept per SYN (capture points it was seen at). */
const MAX_SIGHTINGS = 4;
const EVIDENCE_KEPT = 16;
const MAX_HOSTS_KEPT = 16;

/** The router hops a packet crossed, from its TTL and the nearest initial TTL at or above it. */
export function hopsCrossed(ttl: number): number {
  for (const initial of INITIAL_TTLS) if (ttl <= initial) return initial - ttl;
  return 0;
}

interface Sighting {
  readonly point: CapturePoint;
  /** -1: no MSS option. */
  readonly mss: number;
  readonly frame: number;
  readonly timeUs: number;
}

interface SynRecord {
  readonly sightings: Sighting[];
}

interface ClampGroup {
  readonly synAck: boolean;
  readonly family: 4 | 6;
  readonly from: CapturePoint;
  readonly to: CapturePoint;
  readonly fromMss: number;
  readonly toMss: number;
  readonly flow: FlowRef;
  readonly firstFrames: readonly [number, number];
  connections: number;
  readonly evidence: EvidenceFrame[];
}

interface Handshake {
  readonly synMss: number;
  readonly synSeq: number;
  readonly synFrame: number;
  readonly synTimeUs: number;
  readonly synTtl: number;
  readonly synSent: boolean;
}

/** One connection whose SYN and SYN-ACK differ in a way a clamp could explain, seen at one capture point. */
interface SignConnection {
  readonly point: CapturePoint;
  readonly family: 4 | 6;
  /** The SYN-ACK carried the smaller MSS (else the SYN did). */
  readonly synAckSmaller: boolean;
  readonly small: number;
  readonly large: number;
  /** The connection's SYN direction (client → server). */
  readonly flow: FlowRef;
  readonly synKey: string;
  readonly synAckKey: string;
  readonly hops: number;
  /** The host that announced the smaller MSS. */
  readonly host: string;
  readonly syn: EvidenceFrame;
  readonly synAck: EvidenceFrame;
}

interface SignGroup {
  readonly first: SignConnection;
  connections: number;
  readonly hosts: Set<string>;
  readonly evidence: EvidenceFrame[];
}

function mssText(mss: number): string {
  return mss < 0 ? 'no MSS option' : `MSS ${mss}`;
}

function synKey(p: PacketFacts): string {
  const ip = p.inner!;
  const tcp = p.tcp!;
  return `${ip.src} ${tcp.srcPort} ${ip.dst} ${tcp.dstPort} ${tcp.seq} ${tcp.ackFlag ? 'SA' : 'S'}`;
}

/** Wireshark clause for one connection, both directions. */
export function connectionFilter(flow: FlowRef): string {
  const addr = flow.family === 4 ? 'ip.addr' : 'ipv6.addr';
  const ports = flow.srcPort === undefined || flow.dstPort === undefined ? '' : ` && tcp.port == ${flow.srcPort} && tcp.port == ${flow.dstPort}`;
  return `${addr} == ${flow.src} && ${addr} == ${flow.dst}${ports}`;
}

function mssSet(values: readonly number[]): string {
  const present = [...new Set(values.filter((v) => v >= 0))].sort((a, b) => a - b);
  if (present.length === 0) return '!tcp.options.mss_val';
  if (present.length === 1) return `tcp.options.mss_val == ${present[0]!}`;
  return `tcp.options.mss_val in {${present.join(', ')}}`;
}

export class MssClampDetector implements Detector {
  private readonly syns: BoundedMap<string, SynRecord>;
  private readonly groups: BoundedMap<string, ClampGroup>;
  private readonly handshakes: BoundedMap<string, Handshake>;
  private readonly signs: BoundedMap<string, SignConnection>;

  constructor(private readonly limits: AnalyzerLimits) {
    this.syns = new BoundedMap(limits.maxFlows);
    this.handshakes = new BoundedMap(limits.maxFlows);
    this.groups = new BoundedMap(Math.max(1, limits.maxFindingsPerKind * 2));
    this.signs = new BoundedMap(limits.maxFlows);
  }

  observe(p: PacketFacts): void {
    const tcp = p.tcp;
    if (tcp === undefined || !tcp.syn || tcp.rst || p.inner === undefined || p.inner.fragment !== undefined) return;
    const point = capturePointOf(p);
    const key = synKey(p);
    const mss = tcp.mss ?? -1;
    const sighting: Sighting = { point, mss, frame: p.frame, timeUs: p.timeUs };
    const record = this.syns.get(key);
    if (record === undefined) {
      this.syns.set(key, { sightings: [sighting] });
    } else if (!record.sightings.some((s) => s.point.label === point.label)) {
      const prior = record.sightings.reduce((a, b) => (b.timeUs >= a.timeUs ? b : a));
      const [from, to] = sighting.timeUs >= prior.timeUs ? [prior, sighting] : [sighting, prior];
      this.recordPair(p, tcp.ackFlag, from, to);
      if (record.sightings.length < MAX_SIGHTINGS) record.sightings.push(sighting);
    }
    this.singlePoint(p, point, mss);
  }

  private recordPair(p: PacketFacts, synAck: boolean, from: Sighting, to: Sighting): void {
    const family = p.inner!.family;
    const key = `${synAck ? 'SA' : 'S'}|${family}|${from.point.label}|${to.point.label}|${from.mss}|${to.mss}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = {
        synAck,
        family,
        from: from.point,
        to: to.point,
        fromMss: from.mss,
        toMss: to.mss,
        flow: flowOf(p)!,
        firstFrames: [from.frame, to.frame],
        connections: 0,
        evidence: [],
      };
      this.groups.set(key, group);
    }
    group.connections++;
    if (group.evidence.length + 2 <= EVIDENCE_KEPT) {
      const what = synAck ? 'SYN-ACK' : 'SYN';
      group.evidence.push({ frame: from.frame, timeUs: from.timeUs, role: `${what} on ${from.point.label}, ${mssText(from.mss)}` });
      group.evidence.push({ frame: to.frame, timeUs: to.timeUs, role: `${what} on ${to.point.label}, ${mssText(to.mss)}` });
    }
  }

  private singlePoint(p: PacketFacts, point: CapturePoint, mss: number): void {
    const ip = p.inner!;
    const tcp = p.tcp!;
    if (!tcp.ackFlag) {
      const key = `${point.label}|${ip.src} ${tcp.srcPort} ${ip.dst} ${tcp.dstPort}`;
      this.handshakes.set(key, { synMss: mss, synSeq: tcp.seq, synFrame: p.frame, synTimeUs: p.timeUs, synTtl: ip.ttl, synSent: p.direction === 'out' });
      return;
    }
    const key = `${point.label}|${ip.dst} ${tcp.dstPort} ${ip.src} ${tcp.srcPort}`;
    const hs = this.handshakes.get(key, false);
    if (hs === undefined || tcp.ack !== ((hs.synSeq + 1) >>> 0)) return;
    this.handshakes.delete(key);
    if (hs.synMss < 0 || mss < 0) return;
    const synAckSmaller = mss < hs.synMss;
    const small = Math.min(mss, hs.synMss);
    const large = Math.max(mss, hs.synMss);
    if (large - small <= MIN_DIFFERENCE) return;
    // The smaller announcement must have come from beyond a router: one sent here, or from this link, is the sender's own.
    const sent = synAckSmaller ? p.direction === 'out' : hs.synSent;
    const hops = hopsCrossed(synAckSmaller ? ip.ttl : hs.synTtl);
    if (sent || hops === 0) return;
    const flow = flowOf(p)!;
    this.signs.set(key, {
      point,
      family: ip.family,
      synAckSmaller,
      small,
      large,
      flow: { ...flow, src: flow.dst, dst: flow.src, srcPort: flow.dstPort, dstPort: flow.srcPort },
      synKey: `${ip.dst} ${tcp.dstPort} ${ip.src} ${tcp.srcPort} ${hs.synSeq} S`,
      synAckKey: synKey(p),
      hops,
      host: synAckSmaller ? ip.src : ip.dst,
      syn: { frame: hs.synFrame, timeUs: hs.synTimeUs, role: `SYN, MSS ${hs.synMss}, TTL ${hs.synTtl}` },
      synAck: { frame: p.frame, timeUs: p.timeUs, role: `SYN-ACK, MSS ${mss}, TTL ${ip.ttl}` },
    });
  }

  /** Single-point signs by capture point, family, direction and values; connections whose SYN or SYN-ACK was seen at two points are left out (decided here, at the end: a pcapng's records need not be in time order). */
  private signGroups(): SignGroup[] {
    const groups = new Map<string, SignGroup>();
    for (const c of this.signs.values()) {
      if ((this.syns.get(c.synKey, false)?.sightings.length ?? 0) > 1 || (this.syns.get(c.synAckKey, false)?.sightings.length ?? 0) > 1) continue;
      const key = `${c.point.label}|${c.family}|${c.synAckSmaller ? 'SA' : 'S'}|${c.small}|${c.large}`;
      let g = groups.get(key);
      if (g === undefined) {
        g = { first: c, connections: 0, hosts: new Set(), evidence: [] };
        groups.set(key, g);
      }
      g.connections++;
      if (g.hosts.size < MAX_HOSTS_KEPT) g.hosts.add(c.host);
      if (g.evidence.length + 2 <= EVIDENCE_KEPT) g.evidence.push(c.syn, c.synAck);
    }
    return [...groups.values()];
  }

  report(_context: ReportContext): Finding[] {
    const out: Finding[] = [];
    const groups = [...this.groups.values()];
    for (const g of groups) {
      if (g.fromMss === g.toMss) continue;
      if (out.length >= this.limits.maxFindingsPerKind) break;
      out.push(twoPointFinding(g, groups));
    }
    for (const g of this.signGroups()) {
      if (out.length >= this.limits.maxFindingsPerKind) break;
      out.push(signFinding(g));
    }
    return out;
  }

  evictions(): Eviction[] {
    return [
      { table: 'TCP SYNs compared across capture points', evicted: this.syns.evicted, capacity: this.syns.capacity },
      { table: 'TCP handshakes awaiting their SYN-ACK', evicted: this.handshakes.evicted, capacity: this.handshakes.capacity },
      { table: 'TCP handshakes with differing MSS values', evicted: this.signs.evicted, capacity: this.signs.capacity },
    ];
  }
}

function twoPointFinding(g: ClampGroup, all: readonly ClampGroup[]): Finding {
  const what = g.synAck ? 'SYN-ACK' : 'SYN';
  const between = `between ${g.from.label} and ${g.to.label}`;
  const frames = `(frames ${g.firstFrames[0]} and ${g.firstFrames[1]})`;
  let headline: string;
  if (g.fromMss < 0) headline = `MSS option ${g.toMss} added ${between} ${frames}`;
  else if (g.toMss < 0) headline = `MSS option (${g.fromMss}) removed ${between} ${frames}`;
  else if (g.toMss < g.fromMss) headline = `MSS clamped from ${g.fromMss} to ${g.toMss} ${between} ${frames}`;
  else headline = `MSS raised from ${g.fromMss} to ${g.toMss} ${between} ${frames}`;
  const samePoints = (o: ClampGroup): boolean =>
    o.family === g.family &&
    ((o.from.label === g.from.label && o.to.label === g.to.label) || (o.from.label === g.to.label && o.to.label === g.from.label));
  const reverse = all.filter((o) => o.synAck !== g.synAck && samePoints(o));
  const reverseChanged = reverse.filter((o) => o.fromMss !== o.toMss).reduce((n, o) => n + o.connections, 0);
  const reverseUnchanged = reverse.filter((o) => o.fromMss === o.toMss).reduce((n, o) => n + o.connections, 0);
  const other = g.synAck ? 'SYNs' : 'SYN-ACKs';
  let direction = '';
  if (reverseChanged > 0 && reverseUnchanged === 0) direction = ` The ${other} crossing the same two points were rewritten too (${reverseChanged} seen).`;
  else if (reverseUnchanged > 0 && reverseChanged === 0) direction = ` The ${other} crossing the same two points kept their MSS (${reverseUnchanged} seen): the rewrite acts in one direction only.`;
  else if (reverseUnchanged > 0) direction = ` Of the ${other} crossing the same two points, ${reverseChanged} were rewritten and ${reverseUnchanged} kept their MSS.`;
  const more = g.connections > 1 ? ` ${plural(g.connections, what)} of this capture were rewritten the same way.` : '';
  const sentence =
    `${headline}: the ${what} of ${flowLabel(g.flow)} was seen on ${g.from.label} with ${mssText(g.fromMss)} and then on ${g.to.label} with ${mssText(g.toMss)}, ` +
    `so something between the two capture points (a router's TCPMSS rule, a firewall) rewrote it; TCP segments stay within the smaller MSS, ` +
    `which hides path MTU problems from TCP but not from UDP.${more}${direction}`;
  const where = anyOf(g.from.filter, g.to.filter);
  const filter = allOf(
    `tcp.flags.syn == 1 && tcp.flags.ack == ${g.synAck ? 1 : 0}`,
    mssSet([g.fromMss, g.toMss]),
    g.connections === 1 ? connectionFilter(g.flow) : '',
    where,
  );
  return {
    kind: 'mss-clamped',
    severity: 'warning',
    confidence: 'high',
    flow: g.flow,
    interface: g.from.interface,
    evidence: [...g.evidence],
    evidenceOmitted: Math.max(0, g.connections * 2 - g.evidence.length),
    sentence,
    displayFilter: filter,
    facts: {
      segment: what,
      fromMss: Math.max(0, g.fromMss),
      toMss: Math.max(0, g.toMss),
      fromInterface: g.from.label,
      toInterface: g.to.label,
      connections: g.connections,
      otherDirectionRewritten: reverseChanged,
      otherDirectionKept: reverseUnchanged,
    },
    caveats: [],
  };
}

function signFinding(g: SignGroup): Finding {
  const c = g.first;
  const many = g.hosts.size >= MANY_HOSTS;
  const confidence: Confidence = many ? 'medium' : 'low';
  const smaller = c.synAckSmaller ? 'SYN-ACK' : 'SYN';
  const larger = c.synAckSmaller ? 'SYN' : 'SYN-ACK';
  const overhead = c.family === 4 ? 40 : 60;
  const frames = `(frames ${c.syn.frame} and ${c.synAck.frame})`;
  const on = c.point.label === 'the capture' ? 'this capture point' : c.point.label;
  let sentence: string;
  if (many) {
    sentence =
      `${plural(g.connections, smaller)} from ${g.hosts.size}${g.hosts.size >= MAX_HOSTS_KEPT ? ' or more' : ''} different hosts reached ${on} with MSS ${c.small}, ` +
      `while the ${larger}s of the same connections announced ${c.large} ${frames}: that many hosts all on ${c.small + overhead}-byte links is unlikely, ` +
      `so a router between ${on} and them most likely clamps the MSS to ${c.small}. One capture point cannot show the rewrite itself; capture on both sides of the router to see it.`;
  } else {
    const peer = c.synAckSmaller ? c.flow.dst : c.flow.src;
    sentence =
      `The ${smaller} from ${peer} announced MSS ${c.small}, ${c.large - c.small} bytes less than the ${larger}'s ${c.large} ${frames}, and crossed ` +
      `${plural(c.hops, 'router')} to reach ${on}: either that host's link MTU is ${c.small + overhead} or a router between clamps the MSS to ${c.small}. ` +
      `One capture point cannot tell which; capture on both sides of the routers to see it.`;
  }
  const filter = allOf(
    'tcp.flags.syn == 1',
    mssSet([c.small, c.large]),
    g.connections === 1 ? connectionFilter(c.flow) : '',
    c.point.filter,
  );
  return {
    kind: 'mss-clamped',
    severity: many ? 'warning' : 'info',
    confidence,
    flow: c.flow,
    interface: c.point.interface,
    evidence: [...g.evidence],
    evidenceOmitted: Math.max(0, g.connections * 2 - g.evidence.length),
    sentence,
    displayFilter: filter,
    facts: {
      segment: smaller,
      smallerMss: c.small,
      largerMss: c.large,
      connections: g.connections,
      hosts: g.hosts.size,
      routersCrossed: c.hops,
      singlePoint: true,
    },
    caveats: [],
  };
}
