import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { PlannedProbe } from './plan.js';
import type { ProbeResult } from './result.js';
import type { Limiter } from './limiter.js';
import { runProbe } from './run-probe.js';

export interface SchedulerOptions {
  readonly limiter: Limiter;
  readonly logger: Logger;
  /** Called with every finished run (store, metrics, logs). */
  readonly onResult: (planned: PlannedProbe, result: ProbeResult) => void;
  /** Called when a tick finds the previous run still going. */
  readonly onSkip: (planned: PlannedProbe) => void;
  /** The first run of each probe starts after random() × min(interval, maxStartJitterMs). */
  readonly maxStartJitterMs?: number;
  readonly random?: () => number;
}

interface Job {
  readonly planned: PlannedProbe;
  timer: NodeJS.Timeout | undefined;
  cronTask: ScheduledTask | undefined;
  running: Promise<void> | undefined;
  /** Do not start before this time (Unix ms): a 429's Retry-After. */
  notBefore: number;
  readonly cancel: AbortController;
}

const DEFAULT_MAX_JITTER_MS = 10_000;

/**
 * Runs each planned probe on its own schedule: a fixed-rate timer for durations (no drift: the
 * next tick is computed from the first one), node-cron for cron expressions. A tick that finds the
 * previous run still going is skipped and counted, never queued.
 */
export class Scheduler {
  readonly #jobs: Job[];
  readonly #options: SchedulerOptions;
  #stopped = false;

  constructor(planned: readonly PlannedProbe[], options: SchedulerOptions) {
    this.#options = options;
    this.#jobs = planned.map((p) => ({ planned: p, timer: undefined, cronTask: undefined, running: undefined, notBefore: 0, cancel: new AbortController() }));
  }

  start(): void {
    const random = this.#options.random ?? Math.random;
    const maxJitter = this.#options.maxStartJitterMs ?? DEFAULT_MAX_JITTER_MS;
    for (const job of this.#jobs) {
      const { schedule } = job.planned.settings;
      const period = schedule.kind === 'every' ? schedule.ms : 60_000;
      const firstAt = Date.now() + Math.floor(random() * Math.min(period, maxJitter));
      if (schedule.kind === 'every') this.#armFixedRate(job, firstAt, schedule.ms);
      else {
        job.timer = setTimeout(() => this.#tick(job, firstAt), firstAt - Date.now());
        job.cronTask = cron.schedule(schedule.expression, () => this.#tick(job, Date.now()), { name: job.planned.key });
      }
    }
  }

  /** Stops scheduling; in-flight runs get `graceMs` to finish, then are aborted. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopped = true;
    for (const job of this.#jobs) {
      clearTimeout(job.timer);
      void job.cronTask?.destroy();
    }
    const inFlight = this.#jobs.map((j) => j.running).filter((r): r is Promise<void> => r !== undefined);
    if (inFlight.length === 0) return;
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(inFlight), grace]);
    clearTimeout(graceTimer);
    for (const job of this.#jobs) job.cancel.abort();
    await Promise.all(inFlight);
  }

  #armFixedRate(job: Job, firstAt: number, intervalMs: number): void {
    let tick = 0;
    const arm = (): void => {
      if (this.#stopped) return;
      let due = firstAt + tick * intervalMs;
      // After a long stall (suspended VM, blocked loop) skip the missed ticks instead of bursting.
      const now = Date.now();
      if (due < now - intervalMs) {
        tick += Math.floor((now - due) / intervalMs);
        due = firstAt + tick * intervalMs;
      }
      job.timer = setTimeout(() => {
        tick++;
        this.#tick(job, due);
        arm();
      }, Math.max(0, due - now));
    };
    arm();
  }

  #tick(job: Job, scheduledAt: number): void {
    if (this.#stopped) return;
    if (job.running) {
      this.#options.logger.debug({ instance: job.planned.instance.name, probe: job.planned.probe.name }, 'previous run still going; tick skipped');
      this.#options.onSkip(job.planned);
      return;
    }
    if (Date.now() < job.notBefore) return;
    job.running = this.#run(job, scheduledAt).finally(() => {
      job.running = undefined;
    });
  }

  async #run(job: Job, scheduledAt: number): Promise<void> {
    const { planned } = job;
    const result = await this.#options.limiter.run(() =>
      runProbe({
        probe: planned.probe,
        instance: planned.instance,
        settings: planned.settings,
        net: planned.net,
        logger: this.#options.logger.child({ instance: planned.instance.name, probe: planned.probe.name }),
        cancel: job.cancel.signal,
        scheduledAt,
      }),
    );
    if (result.retryAfterSeconds !== undefined) job.notBefore = Date.now() + result.retryAfterSeconds * 1000;
    if (!this.#stopped || result.success) this.#options.onResult(planned, result);
  }
}
