import { PtbAnswerProgram } from '../host/ptb-answer-program.js';
import type { KernelAnswer } from './kernel-answer.js';
import {
  answerCounts,
  answerSettings,
  KERNEL_ANSWER_OUTCOMES,
  type KernelAnswerCounts,
  type KernelAnswerOutcome,
  type KernelAnswerSettings,
  testKey,
} from './kernel-answer-layout.js';
import type { ConnectionEndpoints } from './tracked-connection.js';

/** The kernel answer of this host: native/bpf's ptb_answer through PtbAnswerProgram. */
export class HostKernelAnswer implements KernelAnswer {
  readonly answeredMark: number;
  readonly heldBackMark: number;

  private constructor(
    private readonly program: PtbAnswerProgram,
    settings: KernelAnswerSettings,
  ) {
    this.answeredMark = settings.answeredMark;
    this.heldBackMark = settings.heldBackMark;
  }

  /** Throws with the reason when the kernel cannot answer on this host. */
  static open(settings: KernelAnswerSettings, onSkipped: (name: string, reason: string) => void): HostKernelAnswer {
    return new HostKernelAnswer(PtbAnswerProgram.open(answerSettings(settings), onSkipped), settings);
  }

  get interfaces(): readonly string[] {
    return this.program.interfaces.map((i) => i.name);
  }

  expect(endpoints: ConnectionEndpoints, clientIsn: number): void {
    const key = testKey(endpoints);
    if (key !== undefined) this.program.expect(key, clientIsn);
  }

  forget(endpoints: ConnectionEndpoints): void {
    const key = testKey(endpoints);
    if (key !== undefined) this.program.forget(key);
  }

  counts(endpoints: ConnectionEndpoints): KernelAnswerCounts | undefined {
    const key = testKey(endpoints);
    const value = key === undefined ? undefined : this.program.lookup(key);
    return value === undefined ? undefined : answerCounts(value);
  }

  /** What the program did so far. */
  outcomes(): Record<KernelAnswerOutcome, number> {
    return this.program.outcomes(KERNEL_ANSWER_OUTCOMES);
  }

  close(): void {
    this.program.close();
  }
}
