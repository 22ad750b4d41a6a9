import type { Layer } from '../packet/frame.js';
import type { TcpOption } from '../packet/tcp-options.js';
import { hex, jsonValue } from './json-value.js';

/**
 * JSON for one decoded layer. The layers of nearly every packet (link, IP, TCP, UDP) are written field
 * by field: jsonValue's walk over keys was most of the decode time. Everything else goes through
 * jsonValue. Addresses and kinds are our own ASCII text and need no escaping. A test checks that the
 * result parses to exactly what jsonValue makes of the same layer.
 */
export function layerJson(l: Layer): string {
  const place = `"offset":${l.offset},"depth":${l.depth},"quoted":${l.quoted}`;
  switch (l.protocol) {
    case 'ethernet': {
      const r = l.repr;
      const vlans = r.vlans.length === 0 ? '[]' : jsonValue(r.vlans);
      return `{"protocol":"ethernet",${place},"repr":{"dst":"${r.dst}","src":"${r.src}","vlans":${vlans},"etherType":${r.etherType}}}`;
    }
    case 'ipv4': {
      const r = l.repr;
      return (
        `{"protocol":"ipv4",${place},"repr":{"src":"${r.src}","dst":"${r.dst}","protocol":${r.protocol},"ttl":${r.ttl},"dscp":${r.dscp},` +
        `"ecn":${r.ecn},"ident":${r.ident},"reservedFlag":${r.reservedFlag},"dontFragment":${r.dontFragment},"moreFragments":${r.moreFragments},` +
        `"fragmentOffset":${r.fragmentOffset},"options":"${hex(r.options)}","payloadLength":${r.payloadLength}},"checksum":"${l.checksum}","truncated":${l.truncated}}`
      );
    }
    case 'ipv6': {
      const r = l.repr;
      const extensions = l.extensions.length === 0 ? '[]' : jsonValue(l.extensions);
      return (
        `{"protocol":"ipv6",${place},"repr":{"src":"${r.src}","dst":"${r.dst}","nextHeader":${r.nextHeader},"hopLimit":${r.hopLimit},` +
        `"trafficClass":${r.trafficClass},"flowLabel":${r.flowLabel},"payloadLength":${r.payloadLength}},"extensions":${extensions},"truncated":${l.truncated}}`
      );
    }
    case 'tcp': {
      const r = l.repr;
      return (
        `{"protocol":"tcp",${place},"repr":{"srcPort":${r.srcPort},"dstPort":${r.dstPort},"seq":${r.seq},"ack":${r.ack},"flags":${r.flags},` +
        `"window":${r.window},"urgentPointer":${r.urgentPointer},"options":${tcpOptionsJson(r.options)},"payloadLength":${r.payloadLength}},` +
        `"checksum":"${l.checksum}","truncated":${l.truncated}}`
      );
    }
    case 'udp': {
      const r = l.repr;
      return `{"protocol":"udp",${place},"repr":{"srcPort":${r.srcPort},"dstPort":${r.dstPort},"payloadLength":${r.payloadLength}},"checksum":"${l.checksum}","truncated":${l.truncated}}`;
    }
    default:
      return jsonValue(l) ?? 'null';
  }
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
      default:
        s += jsonValue(o) ?? 'null';
    }
  }
  return s + ']';
}
