/**
 * The /icmp test's Packet Too Big answered in the kernel (native/bpf's ptb_answer, src/engine/kernel-answer.ts), with real
 * kernels, curl and tcpdump in a lab: the service says where it answers; the messages the program built, captured on
 * the server, are byte for byte what the engine's own buildPacketTooBig makes of the captured segment (and tshark finds
 * their checksums good); the clients' kernels act on them; the rate limits hold answers back in the kernel too; with
 * --no-kernel-answer the engine answers; and when the engine is killed its program is gone from the kernel.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader.js';
import type { EngineStats } from '../../src/engine/engine-stats.js';
import { switchOffloadsOff } from '../../src/lab/node-capture.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { formatMac } from '../../src/packet/address.js';
import { bytesEqual } from '../../src/packet/bytes.js';
import { buildPacketTooBig } from '../../src/packet/packet-too-big.js';
import { parseTcpSegment } from '../../src/packet/tcp-segment.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { RawInjector } from '../support/raw-inject.js';
import { needsRoot } from '../support/root.js';
import { ACK, ascii, PSH, SYN, tcpPacket } from '../engine/engine-packets.js';
import { tsharkFields } from '../support/tshark.js';

const run = promisify(execFile);
const ETH = 14;
const MTU = { 4: 905, 6: 1280 } as const;

/** The BPF programs a process holds through tcx links (from its file descriptors' fdinfo). */
function tcxProgramIds(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    if (!/^link_type:\s+tcx$/m.test(info)) continue;
    const id = /^prog_id:\s+(\d+)$/m.exec(info)?.[1];
    if (id !== undefined) ids.push(Number(id));
  }
  return ids;
}

async function programLoaded(id: number): Promise<boolean> {
  try {
    await run('bpftool', ['prog', 'show', 'id', String(id)]);
    return true;
  } catch {
    return false;
  }
}

describe('the /icmp Packet Too Big answered in the kernel (native/bpf)', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess | undefined;

  const stats = async (): Promise<EngineStats> => {
    const r = await c.curl('client', [`http://${c.server4}:${PORT}/api/stats`]);
    return JSON.parse(r.stdout) as EngineStats;
  };
  const restart = async (args: readonly string[] = []): Promise<LabProcess> => {
    await serve?.stop('SIGTERM');
    serve = await c.serve(args, `results-${args.join('') || 'default'}.sqlite`);
    return serve;
  };
  const flush = async (): Promise<void> => {
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
  };

  before(async () => {
    c = await startCheckerLab({ name: 'chk-kans', clients: [{ name: 'client' }] });
    // One wire packet per captured packet: the captured segments are what the program answered.
    assert.deepEqual(await switchOffloadsOff(c.lab), []);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('answers both families in the kernel, with the very message the engine would have built', async () => {
    const s = await restart();
    await s.waitForOutput(/\/icmp Packet Too Big answered in the kernel \(tc BPF\) on eth1\n/, 5000);
    const file = join(c.dir, 'server.pcap');
    const dump = c.lab.spawn('server', ['tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'eth1', '-U', '-w', file, `tcp dst port ${PORT} or icmp or icmp6`]);
    await dump.waitForOutput(/listening on/, 10_000);
    for (const family of [4, 6] as const) {
      const { result } = await c.icmpJson('client', family);
      assert.equal(result.verdict, 'pass', JSON.stringify(result.evidence));
      assert.ok(result.evidence.packetTooBigSent >= 1);
    }
    // The clients' kernels took the messages in: their route caches hold the test MTUs.
    assert.match((await c.lab.mustExec('client', ['ip', 'route', 'get', c.server4])).stdout, /mtu 905/);
    assert.match((await c.lab.mustExec('client', ['ip', '-6', 'route', 'get', c.server6])).stdout, /mtu 1280/);
    await flush();
    await new Promise((r) => setTimeout(r, 300));
    const ended = await dump.stop('SIGINT');
    assert.ok(ended.code === 0 || ended.signal === 'SIGINT', `tcpdump: ${JSON.stringify(ended)} ${dump.stderr}`);
    const st = await stats();
    assert.equal(st.kernelAnswer.inKernel, true);
    assert.ok(st.counters.packetTooBigAnsweredInKernel >= 2, JSON.stringify(st.counters));
    assert.equal(st.counters.packetTooBigAnsweredInKernel, st.counters.packetTooBigSent, 'every message from the kernel');
    assert.equal(st.packetTooBigLatencyMs.samples, 0, 'none from the engine');
    if (st.kernelAnswer.inKernel) assert.equal(st.kernelAnswer.outcomes.answered, st.counters.packetTooBigAnsweredInKernel);

    // Each message on the wire against the engine's own for the segment it quotes.
    const frames = await readCaptureFile(file);
    const arrivals = frames.filter((f) => f.data[ETH + (f.data[12] === 0x08 ? 9 : 6)] === 6);
    let compared = 0;
    for (const f of frames) {
      const ipv4 = f.data[12] === 0x08;
      const family = ipv4 ? 4 : 6;
      const isPtb = ipv4 ? f.data[ETH + 9] === 1 && f.data[ETH + 20] === 3 && f.data[ETH + 21] === 4 : f.data[ETH + 6] === 58 && f.data[ETH + 40] === 2;
      if (!isPtb) continue;
      const message = f.data.subarray(ETH);
      const quote = message.subarray(ipv4 ? 28 : 48);
      const arrival = arrivals.find((a) => bytesEqual(a.data.subarray(ETH, ETH + quote.length), quote));
      assert.ok(arrival, `the segment quoted by frame ${frames.indexOf(f) + 1} arrived`);
      const segment = parseTcpSegment(arrival.data.subarray(ETH));
      assert.ok(segment.ok);
      const ident = ipv4 ? (message[4]! << 8) | message[5]! : 0;
      const expected = buildPacketTooBig(segment.value, MTU[family], ident);
      assert.ok(bytesEqual(message, expected), `frame ${frames.indexOf(f) + 1}: the kernel's message is the engine's`);
      // Back to the neighbour the segment came from, from the address it was sent to.
      assert.equal(formatMac(f.data, 0), formatMac(arrival.data, 6));
      assert.equal(formatMac(f.data, 6), formatMac(arrival.data, 0));
      compared++;
    }
    assert.equal(compared, st.counters.packetTooBigSent, `every message sent was captured and compared (${frames.length} frames, ${arrivals.length} TCP; tcpdump ${JSON.stringify(ended)}: ${dump.stderr}; ${statSync(file).size} bytes)`);
    const [v4] = await tsharkFields(file, ['ip.checksum.status', 'icmp.checksum.status'], { displayFilter: 'icmp.type == 3' });
    assert.deepEqual(v4, { 'ip.checksum.status': '1,1', 'icmp.checksum.status': '1' });
    const [v6] = await tsharkFields(file, ['icmpv6.checksum.status'], { displayFilter: 'icmpv6.type == 2' });
    assert.deepEqual(v6, { 'icmpv6.checksum.status': '1' });
  });

  it('a spoofed client, whose SYN and /icmp request came but which never saw the SYN-ACK, draws no Packet Too Big from the kernel, as none from the engine', async () => {
    await restart();
    const before = await stats();
    // From the router's side, as if routed from far away; 10.200.0.0/16 is no lab address, so the SYN-ACK goes nowhere.
    const injector = await RawInjector.open(c.lab, { node: 'router', ifname: 'eth1', peerNode: 'server', peerIfname: 'eth1' });
    const ends = { src: '10.200.0.9', dst: c.server4, srcPort: 40_999, dstPort: PORT };
    const isn = 0x1000_0000;
    const request = new Uint8Array(1460);
    request.set(ascii('POST /icmp HTTP/1.1\r\nHost: checker\r\nContent-Length: 8100\r\n\r\n'));
    await injector.send([tcpPacket({ ...ends, seq: isn, flags: SYN })]);
    await new Promise((r) => setTimeout(r, 100));
    // The first data segment, at the right sequence number, acknowledging a SYN-ACK the client guesses; then more.
    const data = [0, 1, 2].map((i) => tcpPacket({ ...ends, seq: isn + 1 + i * 1460, ack: 0x2000_0001, flags: ACK | PSH, payload: i === 0 ? request : new Uint8Array(1460), dontFragment: true }));
    await injector.send(data);
    await new Promise((r) => setTimeout(r, 300));
    const after = await stats();
    assert.ok(before.kernelAnswer.inKernel && after.kernelAnswer.inKernel);
    assert.equal(after.kernelAnswer.outcomes.answered, before.kernelAnswer.outcomes.answered, 'the kernel answered nothing');
    assert.equal(after.counters.packetTooBigSent, before.counters.packetTooBigSent, 'nor did the engine');
    assert.ok(after.counters.packets >= before.counters.packets + 4, 'the engine saw the spoofed packets');
    // The same client as a real one would be answered (the first test above); here, what a real handshake changes.
    const { result } = await c.icmpJson('client', 4);
    await flush();
    assert.equal(result.verdict, 'pass');
    const real = await stats();
    assert.ok(real.kernelAnswer.inKernel && real.kernelAnswer.outcomes.answered > after.kernelAnswer.outcomes.answered);
  });

  it('the rate limits hold answers back in the kernel: the segment is still dropped, the message counted as suppressed', async () => {
    // One message a second per client, a burst of two: an upload of six full-size segments outruns it.
    await restart(['--icmp-per-client', '1']);
    const { result } = await c.icmpJson('client', 4);
    await flush();
    assert.equal(result.verdict, 'pass', JSON.stringify(result.evidence));
    assert.ok(result.evidence.packetTooBigSuppressed >= 1, JSON.stringify(result.evidence));
    const st = await stats();
    assert.ok(st.kernelAnswer.inKernel && st.kernelAnswer.outcomes.heldBack >= 1, JSON.stringify(st.kernelAnswer));
    assert.equal(st.counters.packetTooBigSuppressed, result.evidence.packetTooBigSuppressed);
    assert.equal(st.counters.packetTooBigSent, result.evidence.packetTooBigSent);
  });

  it('--no-kernel-answer: the engine answers, and says so', async () => {
    const s = await restart(['--no-kernel-answer']);
    await s.waitForOutput(/\/icmp Packet Too Big answered by the engine in user space: the kernel answer is turned off \(--no-kernel-answer\)\n/, 5000);
    const { result } = await c.icmpJson('client', 6);
    await flush();
    assert.equal(result.verdict, 'pass');
    const st = await stats();
    assert.deepEqual(st.kernelAnswer, { inKernel: false, reason: 'turned off (--no-kernel-answer)' });
    assert.equal(st.counters.packetTooBigAnsweredInKernel, 0);
    assert.equal(st.packetTooBigLatencyMs.samples, st.counters.packetTooBigSent);
    assert.ok(st.counters.packetTooBigSent >= 1);
  });

  it('the programs go with the engine, however it ends: killed, nothing of them stays in the kernel', async () => {
    const s = await restart();
    const enginePid = (await stats()).pid;
    const ids = tcxProgramIds(enginePid);
    assert.equal(ids.length, 2, 'two tcx links (ingress and egress) on the server\'s one Ethernet interface');
    for (const id of ids) assert.ok(await programLoaded(id), `bpftool shows program ${id} while the engine runs`);
    process.kill(enginePid, 'SIGKILL');
    await s.waitForOutput(/engine/i, 10_000).catch(() => undefined);
    const anyLoaded = async (): Promise<boolean> => (await Promise.all(ids.map(programLoaded))).some((loaded) => loaded);
    for (let i = 0; i < 50 && (await anyLoaded()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await anyLoaded(), false, 'bpftool no longer knows the programs');
  });
});
