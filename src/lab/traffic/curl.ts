/**
 * HTTP transfers with curl from a lab node. Every transfer is bounded by --max-time, so a path that black-holes
 * full-size packets shows up as a timeout ("stalled") rather than a hang.
 */
import { familyOfAddress, type IpFamily } from '../../packet/ip-family.js';
import { hostPort, type LabNodes } from './lab-nodes.js';

export type TransferOutcome = 'completed' | 'stalled' | 'failed';

export interface TransferRequest {
  /** Shown in reports, e.g. "upload 100 KB". */
  readonly label: string;
  readonly node: string;
  readonly address: string;
  readonly port: number;
  /** Request body size; 0 or absent sends a plain GET. */
  readonly uploadBytes?: number;
  /** Response size asked of the server; absent: a short text answer. */
  readonly downloadBytes?: number;
  /** Whole transfer bound, seconds (default 4). */
  readonly maxTimeS?: number;
  /** Fixed source port, e.g. to pin a flow to an ECMP path. */
  readonly localPort?: number;
}

export interface TransferResult {
  readonly label: string;
  readonly node: string;
  readonly family: IpFamily;
  readonly url: string;
  readonly outcome: TransferOutcome;
  readonly uploadBytes: number;
  readonly downloadBytes: number;
  /** What curl reports it sent and received (body bytes). */
  readonly bytesUploaded: number;
  readonly bytesDownloaded: number;
  readonly seconds: number;
  readonly httpCode: number;
  readonly curlExit: number | null;
  /** The source port curl used (0 when it never connected). */
  readonly localPort: number;
  /** curl's error message for stalled and failed transfers. */
  readonly error?: string;
}

/** curl exit status for "operation timed out". */
const CURL_TIMEOUT = 28;

export function transferUrl(request: Pick<TransferRequest, 'address' | 'port' | 'downloadBytes'>): string {
  const query = request.downloadBytes !== undefined ? `?bytes=${request.downloadBytes}` : '';
  return `http://${hostPort(request.address, request.port)}/${query}`;
}

export async function curlTransfer(lab: LabNodes, request: TransferRequest): Promise<TransferResult> {
  const maxTime = request.maxTimeS ?? 4;
  const url = transferUrl(request);
  const upload = request.uploadBytes ?? 0;
  const argv = [
    'curl', '-sS', '-o', '/dev/null', '--max-time', String(maxTime), '--connect-timeout', String(maxTime),
    // A large POST would otherwise wait a second for "100 Continue" before sending.
    '-H', 'Expect:',
    '-w', '%{http_code} %{size_upload} %{size_download} %{time_total} %{local_port}',
    ...(request.localPort !== undefined ? ['--local-port', String(request.localPort)] : []),
    ...(upload > 0 ? ['--data-binary', '@-'] : []),
    url,
  ];
  const r = await lab.exec(request.node, argv, {
    timeoutMs: (maxTime + 5) * 1000,
    ...(upload > 0 ? { input: Buffer.alloc(upload, 0x62) } : {}),
  });
  const [code, up, down, total, port] = r.stdout.trim().split(/\s+/);
  const outcome: TransferOutcome = r.code === 0 ? 'completed' : r.code === CURL_TIMEOUT || r.timedOut ? 'stalled' : 'failed';
  const error = r.stderr.trim().replace(/^curl: \(\d+\)\s*/, '');
  return {
    label: request.label,
    node: request.node,
    family: familyOfAddress(request.address),
    url,
    outcome,
    uploadBytes: upload,
    downloadBytes: request.downloadBytes ?? 0,
    bytesUploaded: Number(up ?? 0) || 0,
    bytesDownloaded: Number(down ?? 0) || 0,
    seconds: Number(total ?? 0) || 0,
    httpCode: Number(code ?? 0) || 0,
    curlExit: r.code,
    localPort: Number(port ?? 0) || 0,
    ...(outcome === 'completed' || error === '' ? {} : { error }),
  };
}
