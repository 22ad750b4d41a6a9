/**
 * A test probe that reaches one outcome, once: the HTTP side waits for it (PacketEngine.fragOutcome,
 * downloadOutcome) while packets keep deciding it. Listeners hear the outcome once, at once if it is already known.
 */
export abstract class DecidingProbe<T> {
  outcome: T | undefined;
  private readonly listeners: ((outcome: T) => void)[] = [];

  /** The HTTP side waited long enough: decide with what was seen. */
  abstract timeOut(): void;

  /** Calls back once, when the outcome is known (at once if it already is). */
  onOutcome(listener: (outcome: T) => void): void {
    if (this.outcome !== undefined) listener(this.outcome);
    else this.listeners.push(listener);
  }

  /** The first outcome stands; later ones are ignored. */
  protected decide(outcome: T): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    for (const l of this.listeners.splice(0)) l(outcome);
  }
}
