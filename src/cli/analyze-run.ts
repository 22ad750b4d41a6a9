/**
 * The work of `mtuscope analyze` around the pure analyzer (src/analyze/): reading each capture (a file, standard
 * input or tcpdump's stream), handing its packets to an Analyzer, printing the text or JSON output, and for
 * --extract a second pass over each capture that copies its evidence frames, with comments, into one pcapng file.
 * Standard input and live captures are spooled to a temporary file during the first pass for that second pass.
 */
import { once } from 'node:events';
import { closeSync, createWriteStream, openSync, readSync, statSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnalysisResult, Analyzer, type AnalyzerParts } from '../analyze/analyzer.js';
import { analysisText, findingText } from '../analyze/analysis-text.js';
import { type CaptureInfo, findingJson, type NumberedFinding, summaryJson } from '../analyze/analysis-json.js';
import type { AnalyzerLimits } from '../analyze/detector.js';
import { evidenceComments } from '../analyze/evidence-comments.js';
import { type Finding, type FindingKind, isProblem } from '../analyze/finding.js';
import { flowVerdicts } from '../analyze/analysis-text.js';
import { conversationKey } from '../analyze/flow-key.js';
import { type FactsOptions, interfaceLabel } from '../analyze/packet-facts.js';
import { CaptureError } from '../capture/capture-error.js';
import type { CapturedPacket } from '../capture/captured-packet.js';
import { fileChunks, readCaptureBatches, readCapturePackets, SINK_CHUNK_BYTES } from '../capture/reader.js';
import { openCaptureWriter } from '../capture/writer.js';
import { TcpdumpCapture } from '../host/tcpdump-capture.js';
import { LinkType } from '../packet/link-type.js';
import { errorMessage } from '../util/error-message.js';
import { AnalyzeTeardown } from './analyze-teardown.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './command.js';
import { Progress } from './progress.js';

export type AnalyzeInput = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'stdin' } | { readonly kind: 'live'; readonly iface: string };

export interface AnalyzeSettings {
  readonly json: boolean;
  /** The pcapng file the evidence frames go to. */
  readonly extract: string | undefined;
  /** Report only these kinds (and decide the exit status from them alone). */
  readonly kinds: ReadonlySet<FindingKind> | undefined;
  readonly facts: Omit<FactsOptions, 'pcapng'>;
  readonly limits: AnalyzerLimits;
  readonly makeParts: (limits: AnalyzerLimits) => AnalyzerParts;
  /** How often a live capture reports the findings that appeared since the last time. */
  readonly liveReportMs: number;
}

export interface AnalyzeIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly progress: Progress;
}

const PCAPNG_MAGIC = 0x0a0d0d0a;
const PROGRESS_EVERY_MS = 250;

/** An interface of a capture as its records name it; the --extract file gets one Interface Description Block each. */
interface SeenInterface {
  readonly linkType: number;
  readonly interfaceId: number;
  readonly name: string | undefined;
}

interface CaptureOutcome {
  readonly label: string;
  /** Where the second pass reads the capture again (the file, or the spool of stdin / a live capture). */
  readonly again: string | undefined;
  readonly interfaces: readonly SeenInterface[];
  readonly findings: readonly NumberedFinding[];
  /** The input could not be read whole (or at all): exit status 2. */
  readonly failed: boolean;
}

function inputLabel(input: AnalyzeInput): string {
  if (input.kind === 'file') return input.path;
  return input.kind === 'stdin' ? '(stdin)' : `live:${input.iface}`;
}

function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/** Writes and waits until the stream took it; a reader that went away (`| head`) is not an error. */
function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    if ((stream as { destroyed?: boolean }).destroyed === true) return resolve();
    try {
      stream.write(text, () => resolve());
    } catch {
      resolve();
    }
  });
}

/** The key under which a live capture remembers a finding it printed: kind, conversation, first evidence frame. */
export function liveKey(f: Finding): string {
  return `${f.kind}|${f.flow === undefined ? '-' : conversationKey(f.flow)}|${f.evidence[0]?.frame ?? 0}`;
}

/**
 * Numbers findings: those printed before (live) keep their number, the others get the next ones in report order.
 * The list comes back ordered by number.
 */
export function numberFindings(findings: readonly Finding[], ids: Map<string, number>): NumberedFinding[] {
  const out: NumberedFinding[] = [];
  for (const finding of findings) {
    const key = liveKey(finding);
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size + 1;
      ids.set(key, id);
    }
    out.push({ id, finding });
  }
  return out.sort((a, b) => a.id - b.id);
}

class CaptureRun {
  private readonly analyzerSlot: { analyzer: Analyzer | undefined } = { analyzer: undefined };
  private readonly interfaces: SeenInterface[] = [];
  private pcapng = false;
  private readonly sniffed = new Uint8Array(4);
  private sniffedLength = 0;
  private bytes = 0;
  private readonly ids = new Map<string, number>();
  private readonly printed = new Set<string>();
  private printedHeading = false;

  constructor(
    private readonly input: AnalyzeInput,
    private readonly settings: AnalyzeSettings,
    private readonly io: AnalyzeIo,
    private readonly teardown: AnalyzeTeardown,
  ) {}

  private get label(): string {
    return inputLabel(this.input);
  }

  /** The first pass: analyse, print, and keep what the second pass needs. */
  async run(spoolPath: string | undefined): Promise<CaptureOutcome> {
    const { input, settings, io } = this;
    let tcpdump: TcpdumpCapture | undefined;
    let raw: string | NodeJS.ReadableStream = input.kind === 'file' ? input.path : io.stdin;
    if (input.kind === 'live') {
      tcpdump = new TcpdumpCapture(input.iface);
      this.teardown.setCapture(tcpdump);
      raw = tcpdump.stdout;
      tcpdump.listening.then(
        () => write(io.stderr, `mtuscope analyze: capturing on ${input.iface} with tcpdump (pid ${tcpdump!.pid ?? '?'}); Ctrl-C ends the capture and prints the summary\n`),
        () => undefined,
      );
    }

    let spool: WriteStream | undefined;
    if (spoolPath !== undefined) {
      this.teardown.addFile(spoolPath);
      spool = createWriteStream(spoolPath, { flags: 'wx', mode: 0o600 });
    }
    const size = input.kind === 'file' ? fileSize(input.path) : undefined;
    let source: string | AsyncIterable<Uint8Array>;
    if (typeof raw === 'string' && spool === undefined && !io.progress.enabled) {
      // The fast path: the reader reads the file itself.
      source = raw;
      this.sniff(firstBytes(raw));
    } else source = this.chunks(raw, spool, size);

    let readError: string | undefined;
    let openFailed = false;
    let timer: NodeJS.Timeout | undefined;
    if (input.kind === 'live') timer = setInterval(() => void this.reportLive(), settings.liveReportMs);
    try {
      let lastId = -1;
      let lastName: string | undefined;
      let lastLink = -1;
      let analyzer: Analyzer | undefined;
      await readCapturePackets(source, {
        push: (pkt: CapturedPacket): void => {
          analyzer ??= this.analyzer();
          if (pkt.interfaceId !== lastId || pkt.interfaceName !== lastName || pkt.linkType !== lastLink) {
            lastId = pkt.interfaceId;
            lastName = pkt.interfaceName;
            lastLink = pkt.linkType;
            this.interfaceIndex(pkt);
          }
          analyzer.push(pkt);
        },
      });
    } catch (err) {
      if (err instanceof CaptureError) readError = err.message;
      else if (isNodeError(err)) {
        readError = err.message;
        openFailed = this.analyzerSlot.analyzer === undefined;
      } else throw err;
    } finally {
      if (timer !== undefined) clearInterval(timer);
      io.progress.done();
      if (spool !== undefined) {
        spool.end();
        await once(spool, 'close').catch(() => undefined);
      }
    }

    let failed = readError !== undefined;
    if (tcpdump !== undefined) {
      tcpdump.stop();
      const end = await tcpdump.ended;
      const stoppedByUs = this.teardown.interrupted || end.signal === 'SIGTERM';
      if (end.startError !== undefined || (!stoppedByUs && end.code !== 0)) {
        const why = end.startError?.message ?? end.stderr.trim().split('\n').filter((l) => !/^(listening on|\d+ packets)/.test(l)).join('; ');
        await write(io.stderr, `mtuscope analyze: tcpdump -i ${tcpdump.iface} failed: ${why || `exit status ${String(end.code)}`}\n`);
        return { label: this.label, again: undefined, interfaces: this.interfaces, findings: [], failed: true };
      }
      // A stream cut by the stop is not damage: tcpdump wrote whole packets (-U).
      if (readError !== undefined && this.teardown.interrupted && this.analyzerSlot.analyzer === undefined) readError = undefined;
      failed = readError !== undefined;
    }

    if (openFailed) {
      await write(io.stderr, `mtuscope analyze: ${this.label}: ${readError ?? 'cannot be read'}\n`);
      if (settings.json) await write(io.stdout, JSON.stringify(summaryJson({ file: this.label, interfaces: [], readError }, emptyResult(), [], 0)) + '\n');
      return { label: this.label, again: undefined, interfaces: [], findings: [], failed: true };
    }
    const result = this.analyzer().report(true);
    const findings = numberFindings(this.chosen(result.findings), this.ids);
    const info: CaptureInfo = { file: this.label, interfaces: this.interfaces.map((i) => interfaceLabel({ interfaceName: i.name, interfaceId: i.interfaceId }, this.pcapng) ?? '-'), readError };
    await this.printFinal(info, result, findings);
    if (readError !== undefined) await write(io.stderr, `mtuscope analyze: ${this.label}: ${readError}\n`);
    const again = input.kind === 'file' ? input.path : spoolPath;
    return { label: this.label, again, interfaces: this.interfaces, findings, failed };
  }

  private analyzer(): Analyzer {
    if (this.analyzerSlot.analyzer === undefined) {
      const { settings } = this;
      this.pcapng = this.sniffedLength >= 4 ? new DataView(this.sniffed.buffer).getUint32(0, true) === PCAPNG_MAGIC : this.pcapng;
      this.analyzerSlot.analyzer = new Analyzer(settings.makeParts(settings.limits), { ...settings.facts, pcapng: this.pcapng }, settings.limits);
    }
    return this.analyzerSlot.analyzer;
  }

  /**
   * Chunks of the input, with the first four bytes kept (pcap or pcapng?), the spool written and progress shown. A
   * file's chunks are the reader's reused buffers (fileChunks), so they are read one at a time, and never spooled
   * (a file is read again itself).
   */
  private async *chunks(source: string | NodeJS.ReadableStream, spool: WriteStream | undefined, size: number | undefined): AsyncGenerator<Uint8Array> {
    const stream = typeof source === 'string' ? fileChunks(source, SINK_CHUNK_BYTES) : source;
    let lastProgress = 0;
    for await (const chunk of stream) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('the capture stream yielded text, not bytes');
      if (this.sniffedLength < 4) this.sniff(chunk);
      this.bytes += chunk.length;
      if (spool !== undefined && !spool.write(chunk)) await once(spool, 'drain');
      const now = Date.now();
      if (size !== undefined && size > 0 && now - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = now;
        this.io.progress.update(`mtuscope analyze: ${this.label}: ${Math.floor((100 * this.bytes) / size)}%`);
      }
      yield chunk;
    }
  }

  private sniff(bytes: Uint8Array): void {
    const n = Math.min(4 - this.sniffedLength, bytes.length);
    this.sniffed.set(bytes.subarray(0, n), this.sniffedLength);
    this.sniffedLength += n;
  }

  /** Records the interface of a packet (and, for the first packet, what format the capture is). */
  private interfaceIndex(pkt: CapturedPacket): void {
    if (this.interfaces.some((i) => i.linkType === pkt.linkType && i.interfaceId === pkt.interfaceId && i.name === pkt.interfaceName)) return;
    this.interfaces.push({ linkType: pkt.linkType, interfaceId: pkt.interfaceId, name: pkt.interfaceName });
  }

  private chosen(findings: readonly Finding[]): Finding[] {
    const kinds = this.settings.kinds;
    return kinds === undefined ? [...findings] : findings.filter((f) => kinds.has(f.kind));
  }

  /** A live capture: the findings that appeared since the last report, each printed once. */
  private async reportLive(): Promise<void> {
    const analyzer = this.analyzerSlot.analyzer;
    if (analyzer === undefined) return;
    const fresh = this.chosen(analyzer.report(false).findings).filter((f) => !this.printed.has(liveKey(f)));
    if (fresh.length === 0) return;
    const numbered = numberFindings(fresh, this.ids);
    let text = '';
    for (const nf of numbered) {
      this.printed.add(liveKey(nf.finding));
      if (this.settings.json) text += JSON.stringify(findingJson(this.label, nf)) + '\n';
      else {
        if (!this.printedHeading) {
          text += `findings as they appear on ${this.label} (id, severity, confidence, kind, interface, flow):\n`;
          this.printedHeading = true;
        }
        text += findingText(nf);
      }
    }
    await write(this.io.stdout, text);
  }

  private async printFinal(info: CaptureInfo, result: AnalysisResult, findings: readonly NumberedFinding[]): Promise<void> {
    const { io, settings } = this;
    if (settings.json) {
      let text = '';
      for (const nf of findings) if (!this.printed.has(liveKey(nf.finding))) text += JSON.stringify(findingJson(this.label, nf)) + '\n';
      text += JSON.stringify(summaryJson(info, result, findings, flowVerdicts(result.flows, findings).withFindings.length)) + '\n';
      await write(io.stdout, text);
      return;
    }
    await write(io.stdout, (this.printedHeading ? '\n' : '') + analysisText(info, result, findings, { interrupted: this.teardown.interrupted }));
  }
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** The first four bytes of a file (fewer if it is shorter or cannot be read: reading it will say why). */
function firstBytes(path: string): Uint8Array {
  const out = new Uint8Array(4);
  try {
    const fd = openSync(path, 'r');
    try {
      return out.subarray(0, readSync(fd, out, 0, 4, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return out.subarray(0, 0);
  }
}

function emptyResult(): AnalysisResult {
  return { packets: 0, firstUs: undefined, lastUs: undefined, findings: [], flows: [], evictions: [] };
}

/** The second pass: the evidence frames of every capture, in frame order, into one pcapng file. */
async function extractEvidence(path: string, outcomes: readonly CaptureOutcome[]): Promise<number> {
  const interfaces: { readonly linkType: number; readonly name?: string; readonly tsresol: number; readonly snaplen: number }[] = [];
  const indexOf = new Map<string, number>();
  outcomes.forEach((o, file) => {
    for (const i of o.interfaces) {
      indexOf.set(`${file}/${i.linkType}/${i.interfaceId}/${i.name ?? ''}`, interfaces.length);
      interfaces.push({ linkType: i.linkType, ...(i.name === undefined ? {} : { name: i.name }), tsresol: 9, snaplen: 0 });
    }
  });
  // A pcapng file needs an interface even when it holds no packet.
  if (interfaces.length === 0) interfaces.push({ linkType: LinkType.Ethernet, tsresol: 9, snaplen: 0 });
  const writer = openCaptureWriter(path, { format: 'pcapng', interfaces });
  let written = 0;
  try {
    for (const [file, o] of outcomes.entries()) {
      if (o.again === undefined) continue;
      const comments = evidenceComments(o.findings, outcomes.length === 1 ? 'mtuscope' : `mtuscope ${o.label}`);
      if (comments.size === 0) continue;
      const last = Math.max(...comments.keys());
      let frame = 0;
      try {
        outer: for await (const batch of readCaptureBatches(o.again)) {
          for (const pkt of batch) {
            frame++;
            const comment = comments.get(frame);
            if (comment !== undefined) {
              const interfaceId = indexOf.get(`${file}/${pkt.linkType}/${pkt.interfaceId}/${pkt.interfaceName ?? ''}`) ?? 0;
              await writer.write({ timestampNs: pkt.timestampNs, data: pkt.data, originalLength: pkt.originalLength, interfaceId, comment });
              written++;
            }
            if (frame >= last) break outer;
          }
        }
      } catch (err) {
        // The first pass met the same damage and said so; the frames before it are written.
        if (!(err instanceof CaptureError)) throw err;
      }
    }
  } finally {
    await writer.close();
  }
  return written;
}

let spoolCount = 0;

/** Analyses each input on its own, prints the output, writes --extract; returns the exit status. */
export async function runAnalyze(inputs: readonly AnalyzeInput[], settings: AnalyzeSettings, io: AnalyzeIo): Promise<number> {
  const teardown = new AnalyzeTeardown();
  // A reader that went away (`mtuscope analyze --json f | head -1`) ends the output, not the command with a stack.
  const ignore = (): void => undefined;
  io.stdout.on('error', ignore);
  try {
    const outcomes: CaptureOutcome[] = [];
    for (const input of inputs) {
      const spool = settings.extract !== undefined && input.kind !== 'file' ? join(tmpdir(), `mtuscope-analyze-${process.pid}-${++spoolCount}.pcap`) : undefined;
      outcomes.push(await new CaptureRun(input, settings, io, teardown).run(spool));
    }
    if (settings.extract !== undefined) {
      try {
        const n = await extractEvidence(settings.extract, outcomes);
        if (!settings.json) await write(io.stderr, `mtuscope analyze: ${n} evidence frame${n === 1 ? '' : 's'} written to ${settings.extract}\n`);
      } catch (err) {
        await write(io.stderr, `mtuscope analyze: --extract ${settings.extract}: ${errorMessage(err)}\n`);
        return EXIT_USAGE;
      }
    }
    if (outcomes.some((o) => o.failed)) return EXIT_USAGE;
    return outcomes.some((o) => o.findings.some((f) => isProblem(f.finding))) ? EXIT_FAILURE : EXIT_OK;
  } finally {
    teardown.done();
    io.stdout.off('error', ignore);
  }
}
