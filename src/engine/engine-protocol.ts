import type { ConnectionReport } from './connection-report.js';
import type { EngineStats, KernelAnswerStatus } from './engine-stats.js';
import type { HostEngineOptions } from './host-engine.js';
import type { EngineSettings } from './engine-settings.js';
import type { ConnectionEndpoints } from './tracked-connection.js';

/** The messages between the checker (parent, engine-client.ts) and its engine process (engine-child.ts), over the IPC channel of child_process.fork. */
export interface EngineStartMessage {
  readonly kind: 'start';
  readonly settings: EngineSettings;
  readonly options: Omit<HostEngineOptions, 'onError'>;
}

export type EngineRequest =
  | { readonly kind: 'connection'; readonly id: number; readonly endpoints: ConnectionEndpoints }
  | { readonly kind: 'frag-outcome'; readonly id: number; readonly endpoints: ConnectionEndpoints; readonly timeoutMs: number }
  | { readonly kind: 'download-outcome'; readonly id: number; readonly endpoints: ConnectionEndpoints; readonly timeoutMs: number }
  | { readonly kind: 'stats'; readonly id: number }
  | { readonly kind: 'stop'; readonly id: number };

export type EngineEvent =
  | { readonly kind: 'started'; readonly replacedStaleRules: boolean; readonly pid: number; readonly kernelAnswer: KernelAnswerStatus }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'log'; readonly message: string }
  | { readonly kind: 'reply'; readonly id: number; readonly report?: ConnectionReport; readonly stats?: EngineStats };
