import type { VlanTag } from '../packet/ethernet.js';
import type { Layer } from '../packet/frame.js';
import type { Icmpv4Repr } from '../packet/icmpv4.js';
import type { Icmpv6Repr } from '../packet/icmpv6.js';
import type { Ipv6ExtHeaderRepr } from '../packet/ipv6-ext.js';
import type { TcpOption } from '../packet/tcp-options.js';
import { hex, jsonValue } from './json-value.js';

/**
 * JSON for one decoded layer. The layers of nearly every packet (link, IP, ICMP, TCP, UDP, tunnels) are written
 * field by field: jsonValue's walk over keys was most of the decode time. Everything else goes through
 * jsonValue. Addresses and kinds are our own ASCII text and need no escaping. A test checks that the
 * result is exactly what jsonValue makes of the same layer, byte for byte.
 */
export function layerJson(l: Layer): string {
  // The place is written in each case, after the switch has told the layer's shape: read before it, the same
  // three fields of a dozen object shapes make one slow (megamorphic) property access each.
  switch (l.protocol) {
    case 'ethernet': {
      const r = l.repr;
      const vlans = r.vlans.length === 0 ? '[]' : vlansJson(r.vlans);
      return `{"protocol":"ethernet","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":{"dst":"${r.dst}","src":"${r.src}","vlans":${vlans},"etherType":${r.etherType}}}`;
    }
    case 'ipv4': {
      const r = l.repr;
      return (
        `{"protocol":"ipv4","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":{"src":"${r.src}","dst":"${r.dst}","protocol":${r.protocol},"ttl":${r.ttl},"dscp":${r.dscp},` +
        `"ecn":${r.ecn},"ident":${r.ident},"reservedFlag":${r.reservedFlag},"dontFragment":${r.dontFragment},"moreFragments":${r.moreFragments},` +
        `"fragmentOffset":${r.fragmentOffset},"options":"${hex(r.options)}","payloadLength":${r.payloadLength}},"checksum":"${l.checksum}","truncated":${l.truncated}}`
      );
    }
    case 'ipv6': {
      const r = l.repr;
      const extensions = l.extensions.length === 0 ? '[]' : extensionsJson(l.extensions);
      return (
        `{"protocol":"ipv6","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":{"src":"${r.src}","dst":"${r.dst}","nextHeader":${r.nextHeader},"hopLimit":${r.hopLimit},` +
        `"trafficClass":${r.trafficClass},"flowLabel":${r.flowLabel},"payloadLength":${r.payloadLength}},"extensions":${extensions},"truncated":${l.truncated}}`
      );
    }
    case 'tcp': {
      const r = l.repr;
      return (
        `{"protocol":"tcp","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":{"srcPort":${r.srcPort},"dstPort":${r.dstPort},"seq":${r.seq},"ack":${r.ack},"flags":${r.flags},` +
        `"window":${r.window},"urgentPointer":${r.urgentPointer},"options":${tcpOptionsJson(r.options)},"payloadLength":${r.payloadLength}},` +
        `"checksum":"${l.checksum}","truncated":${l.truncated}}`
      );
    }
    case 'udp': {
      const r = l.repr;
      return `{"protocol":"udp","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":{"srcPort":${r.srcPort},"dstPort":${r.dstPort},"payloadLength":${r.payloadLength}},"checksum":"${l.checksum}","truncated":${l.truncated}}`;
    }
    case 'icmpv4':
      return `{"protocol":"icmpv4","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":${icmpv4Json(l.repr)},"checksum":"${l.checksum}"}`;
    case 'icmpv6':
      return `{"protocol":"icmpv6","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":${icmpv6Json(l.repr)},"checksum":"${l.checksum}"}`;
    case 'vxlan': {
      const r = l.repr;
      return `{"protocol":"vxlan","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":{"flags":${r.flags},"vni":${r.vni},"reserved1":${r.reserved1},"reserved2":${r.reserved2}}}`;
    }
    case 'gue': {
      const r = l.repr;
      const repr =
        r.variant === 1
          ? `{"variant":1,"ipVersion":${r.ipVersion}}`
          : `{"variant":0,"control":${r.control},"protocol":${r.protocol},"flags":${r.flags},"extensions":"${hex(r.extensions)}"}`;
      return `{"protocol":"gue","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":${repr}}`;
    }
    case 'gre': {
      const r = l.repr;
      let repr = `{"checksumPresent":${r.checksumPresent},"protocolType":${r.protocolType},"reserved0":${r.reserved0},"reserved1":${r.reserved1}`;
      if (r.key !== undefined) repr += `,"key":${r.key}`;
      if (r.sequence !== undefined) repr += `,"sequence":${r.sequence}`;
      return `{"protocol":"gre","offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted},"repr":${repr}},"checksum":"${l.checksum}"}`;
    }
    default:
      return jsonValue(l) ?? 'null';
  }
}

function icmpv4Json(r: Icmpv4Repr): string {
  switch (r.kind) {
    case 'echo-request':
    case 'echo-reply':
      return `{"kind":"${r.kind}","ident":${r.ident},"seq":${r.seq},"data":${r.data.length}}`;
    case 'destination-unreachable':
      return `{"kind":"destination-unreachable","code":${r.code},"unused":${r.unused},"nextHopMtu":${r.nextHopMtu},"quoted":${r.quoted.length}}`;
    case 'time-exceeded':
      return `{"kind":"time-exceeded","code":${r.code},"unused":${r.unused},"quoted":${r.quoted.length}}`;
    default:
      return jsonValue(r) ?? 'null';
  }
}

function icmpv6Json(r: Icmpv6Repr): string {
  switch (r.kind) {
    case 'packet-too-big':
      return `{"kind":"packet-too-big","code":${r.code},"mtu":${r.mtu},"quoted":${r.quoted.length}}`;
    case 'destination-unreachable':
    case 'time-exceeded':
      return `{"kind":"${r.kind}","code":${r.code},"unused":${r.unused},"quoted":${r.quoted.length}}`;
    case 'parameter-problem':
      return `{"kind":"parameter-problem","code":${r.code},"pointer":${r.pointer},"quoted":${r.quoted.length}}`;
    case 'echo-request':
    case 'echo-reply':
      return `{"kind":"${r.kind}","ident":${r.ident},"seq":${r.seq},"data":${r.data.length}}`;
    default:
      return jsonValue(r) ?? 'null';
  }
}

function vlansJson(vlans: readonly VlanTag[]): string {
  let s = '[';
  for (let i = 0; i < vlans.length; i++) {
    const v = vlans[i]!;
    s += `${i ? ',' : ''}{"tpid":${v.tpid},"pcp":${v.pcp},"dei":${v.dei},"vid":${v.vid}}`;
  }
  return s + ']';
}

function extensionsJson(extensions: readonly Ipv6ExtHeaderRepr[]): string {
  let s = '[';
  for (let i = 0; i < extensions.length; i++) {
    const e = extensions[i]!;
    if (i) s += ',';
    switch (e.kind) {
      case 'fragment':
        s += `{"kind":"fragment","nextHeader":${e.nextHeader},"fragmentOffset":${e.fragmentOffset},"moreFragments":${e.moreFragments},"ident":${e.ident},"reserved1":${e.reserved1},"reserved2":${e.reserved2}}`;
        break;
      case 'hop-by-hop':
      case 'destination-options': {
        let options = '[';
        for (let j = 0; j < e.options.length; j++) options += `${j ? ',' : ''}{"type":${e.options[j]!.type},"data":${e.options[j]!.data.length}}`;
        s += `{"kind":"${e.kind}","nextHeader":${e.nextHeader},"options":${options}]}`;
        break;
      }
      default:
        s += jsonValue(e) ?? 'null';
    }
  }
  return s + ']';
}

function tcpOptionsJson(options: readonly TcpOption[]): string {
  let s = '[';
  for (let i = 0; i < options.length; i++) {
    const o = options[i]!;
    if (i) s += ',';
    switch (o.kind) {
      case 'nop':
        s += '{"kind":"nop"}';
        break;
      case 'mss':
        s += `{"kind":"mss","value":${o.value}}`;
        break;
      case 'timestamps':
        s += `{"kind":"timestamps","value":${o.value},"echo":${o.echo}}`;
        break;
      case 'sack-permitted':
        s += '{"kind":"sack-permitted"}';
        break;
      case 'window-scale':
        s += `{"kind":"window-scale","shift":${o.shift}}`;
        break;
      case 'end':
        s += '{"kind":"end"}';
        break;
      default:
        s += jsonValue(o) ?? 'null';
    }
  }
  return s + ']';
}
