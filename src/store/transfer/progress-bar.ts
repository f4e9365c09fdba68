/**
 * A progress bar on stderr: redrawn in place on a terminal, a line every 10% otherwise (logs,
 * CI), so that a long copy shows it is moving either way.
 */
export class ProgressBar {
  private done = 0;
  private lastTenth = -1;
  private readonly tty: boolean;

  constructor(private readonly total: number, private readonly unit: (n: number) => string, private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = !!out.isTTY;
  }

  advance(n: number, label: string): void {
    this.done = Math.min(this.total, this.done + n);
    const ratio = this.total ? this.done / this.total : 1;
    const tenth = Math.floor(ratio * 10);
    const bar = '#'.repeat(Math.round(ratio * 30)).padEnd(30, '.');
    const line = `[${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${this.unit(this.done)} / ${this.unit(this.total)}  ${label}`;
    if (this.tty) this.out.write(`\r${line.padEnd(100).slice(0, 100)}`);
    else if (tenth !== this.lastTenth) this.out.write(`${line}\n`);
    this.lastTenth = tenth;
  }

  /** Ends at 100% whatever was counted: the last line says the copy is complete. */
  finish(label = 'done'): void {
    this.done = this.total;
    if (this.lastTenth !== 10 || this.tty) {
      this.lastTenth = -1;
      this.advance(0, label);
    }
    if (this.tty) this.out.write('\n');
  }
}
