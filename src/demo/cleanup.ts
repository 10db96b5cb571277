/**
 * What the demo started, stopped in reverse order whatever happened. A step that fails is
 * reported and the others still run, so one stuck server does not leave the rest running.
 */
export class Cleanup {
  readonly #steps: { label: string; run: () => Promise<unknown> }[] = [];

  add(label: string, run: () => Promise<unknown>): void {
    this.#steps.push({ label, run });
  }

  async run(report: (line: string) => void): Promise<void> {
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step.run();
      } catch (error) {
        report(`could not stop ${step.label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
