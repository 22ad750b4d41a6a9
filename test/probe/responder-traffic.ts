/**
 * Traffic at the UDP responder for the lab tests, run inside a lab node:
 *
 *   spoof FAMILY FORGED_SOURCE DESTINATION PORT COUNT   raw packets with a forged source: hellos, size requests, ptb-requests with a
 *                                                      made-up cookie and probes, COUNT of each; prints the UDP payload
 *                                                      bytes sent as JSON
 *   flood ADDRESS PORT COUNT                           COUNT hellos as fast as a dgram socket sends them; prints how
 *                                                      many cookies came back within a second after the last
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { RawSender } from '../../src/host/raw-sender.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { decodeResponderMessage, emitResponderMessage } from '../../src/packet/responder-message.js';
import { emitUdp } from '../../src/packet/udp.js';

const [mode, ...args] = process.argv.slice(2);
const nonce = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

if (mode === 'spoof') {
  const [familyText, forged, destination, portText, countText] = args as [string, string, string, string, string];
  const family = familyText === '6' ? 6 : 4;
  const port = Number(portText);
  const messages = [
    emitResponderMessage({ type: 'hello', nonce, padding: 24 }),
    emitResponderMessage({ type: 'size-request', nonce, cookie: new Uint8Array(16).fill(0x5a), requestId: 1, replySize: 4096, padding: 0 }),
    emitResponderMessage({ type: 'probe', nonce, cookie: new Uint8Array(16).fill(0x5a), probeId: 1, fragmentCount: 1, fragmentSize: 0, padding: 0 }),
    emitResponderMessage({ type: 'ptb-request', nonce, cookie: new Uint8Array(16).fill(0x5a), requestId: 1, padding: 40 }),
  ];
  const raw = RawSender.open(0, (err) => process.stderr.write(`${err.message}\n`));
  let sent = 0;
  let largest = 0;
  for (let i = 0; i < Number(countText); i++) {
    for (const m of messages) {
      const udp = emitUdp({ srcPort: 40000 + i, dstPort: port, payloadLength: m.length }, m, forged, destination);
      const packet =
        family === 4
          ? emitIpv4({ src: forged, dst: destination, protocol: IpProtocol.Udp, ttl: 64, dscp: 0, ecn: 0, ident: i + 1, reservedFlag: false, dontFragment: false, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payloadLength: udp.length }, udp)
          : emitIpv6({ src: forged, dst: destination, nextHeader: IpProtocol.Udp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: udp.length }, udp);
      await raw.send(family, packet, destination);
      sent += m.length;
      largest = Math.max(largest, m.length);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  raw.close();
  process.stdout.write(`${JSON.stringify({ sentBytes: sent, largestSent: largest })}\n`);
} else if (mode === 'flood') {
  const [address, portText, countText] = args as [string, string, string];
  const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  let cookies = 0;
  socket.on('message', (b) => {
    const d = decodeResponderMessage(b);
    if (d.ok && d.value.type === 'cookie') cookies++;
  });
  await new Promise<void>((resolve) => socket.connect(Number(portText), address, () => resolve()));
  const hello = emitResponderMessage({ type: 'hello', nonce, padding: 24 });
  const started = performance.now();
  for (let i = 0; i < Number(countText); i++) {
    socket.send(hello);
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  const sendMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  socket.close();
  process.stdout.write(`${JSON.stringify({ sent: Number(countText), cookies, sendMs })}\n`);
} else {
  process.stderr.write('usage: responder-traffic spoof|flood ...\n');
  process.exit(2);
}
