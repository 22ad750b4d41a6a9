/**
 * Progress for work that takes longer than a few seconds: one line on standard error, rewritten in place, and only
 * when standard error is a terminal (a pipe or a log file gets the result alone).
 */
export class Progress {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(text: string): void {
    if (!this.enabled) return;
    this.stream.write(`\r\x1b[K${text}`);
    this.shown = true;
  }

  /** Clears the line before the command prints its result. */
  done(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
