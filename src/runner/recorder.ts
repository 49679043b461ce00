import { performance } from 'node:perf_hooks';
import type { FactName } from '../core/facts.js';
import type { Fact, Phase, Recorder } from '../core/run.js';

const MAX_FACTS = 256;
const MAX_NOTES = 8;

/** The runner's Recorder: phase times and facts of one run, kept even when the run throws. */
export class RunRecorder implements Recorder {
  readonly phases = new Map<Phase, number>();
  readonly facts: Fact[] = [];
  readonly notes: string[] = [];
  /** Phases still running, with their start: a run cut off by its deadline still shows where it hung. */
  readonly #open = new Map<Phase, number>();
  /** The facts a probe's run may record; undefined outside a probe run (detection, helper tests). */
  readonly #declaredFacts: ReadonlySet<FactName> | undefined;
  readonly #undeclared = new Set<FactName>();

  constructor(declaredPhases: readonly Phase[], declaredFacts?: readonly FactName[]) {
    // Pre-set every declared phase so its series exists even when the run fails before it.
    for (const phase of declaredPhases) this.phases.set(phase, 0);
    this.#declaredFacts = declaredFacts && new Set(declaredFacts);
  }

  /**
   * Facts the run tried to record that its probe does not declare, in the order first tried. They
   * are not kept (no metric family of the probe would show them): the runner fails the run instead.
   */
  undeclaredFacts(): readonly FactName[] {
    return [...this.#undeclared];
  }

  async phase<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    this.#open.set(phase, start);
    try {
      return await fn();
    } finally {
      if (this.#open.get(phase) === start) {
        this.#open.delete(phase);
        this.addPhase(phase, (performance.now() - start) / 1000);
      }
    }
  }

  /** The phases as they stand now, counting the time of any still running. */
  snapshot(): Partial<Record<Phase, number>> {
    const now = performance.now();
    const phases = Object.fromEntries(this.phases) as Partial<Record<Phase, number>>;
    for (const [phase, start] of this.#open) phases[phase] = (phases[phase] ?? 0) + (now - start) / 1000;
    return phases;
  }

  /** The phase running right now, if any (the last one opened). */
  openPhase(): Phase | undefined {
    return [...this.#open.keys()].at(-1);
  }

  /** Freezes the record: a probe that ignored its deadline cannot change the result afterwards. */
  close(): void {
    const snapshot = this.snapshot();
    this.#open.clear();
    for (const [phase, seconds] of Object.entries(snapshot)) this.phases.set(phase as Phase, seconds);
    this.#closed = true;
  }

  #closed = false;

  addPhase(phase: Phase, seconds: number): void {
    if (this.#closed) return;
    this.phases.set(phase, (this.phases.get(phase) ?? 0) + seconds);
  }

  fact(name: FactName, value: number, labels?: Record<string, string>): void {
    if (this.#closed) return;
    if (this.#declaredFacts && !this.#declaredFacts.has(name)) {
      this.#undeclared.add(name);
      return;
    }
    const key = factKey(name, labels);
    const existing = this.facts.findIndex((f) => factKey(f.name, f.labels) === key);
    if (existing >= 0) this.facts.splice(existing, 1);
    // A probe parsing a hostile answer must not be able to grow the series count without bound.
    if (this.facts.length >= MAX_FACTS) return;
    this.facts.push(labels ? { name, value, labels } : { name, value });
  }

  note(text: string): void {
    if (this.#closed) return;
    if (this.notes.length < MAX_NOTES) this.notes.push(text.slice(0, 500));
  }
}

function factKey(name: string, labels: Readonly<Record<string, string>> | undefined): string {
  return labels ? `${name}${JSON.stringify(Object.entries(labels).sort())}` : name;
}
