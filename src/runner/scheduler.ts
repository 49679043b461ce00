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
  /**
   * The first run of each probe starts after random() × min(interval, maxStartJitterMs); later runs
   * of a fixed-rate probe follow its slot (slotOffsetMs), not the first run.
   */
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
 * Runs each planned probe on its own schedule: a fixed-rate timer for durations (no drift: every
 * tick after the first is a slot of the probe's grid, see slotOffsetMs), node-cron for cron
 * expressions. A tick that finds the previous run still going is skipped and counted, never queued.
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
    const { instance, probe, settings } = job.planned;
    const offsetMs = slotOffsetMs(instance.name, probe.name, intervalMs);
    const arm = (due: number, isFirst: boolean): void => {
      if (this.#stopped) return;
      const now = Date.now();
      const at = skipMissedTicks(due, now, intervalMs);
      job.timer = setTimeout(() => {
        this.#tick(job, at);
        arm(isFirst ? secondRunAt(at, intervalMs, offsetMs, settings.timeoutMs) : at + intervalMs, false);
      }, Math.max(0, at - now));
    };
    arm(firstAt, true);
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
        environment: planned.environment,
        logger: this.#options.logger.child({ instance: planned.instance.name, probe: planned.probe.name }),
        cancel: job.cancel.signal,
        scheduledAt,
      }),
    );
    if (result.retryAfterSeconds !== undefined) job.notBefore = Date.now() + result.retryAfterSeconds * 1000;
    if (!this.#stopped || result.success) this.#options.onResult(planned, result);
  }
}

/**
 * Where a fixed-rate probe's steady runs fall: slots at offsetMs + k·interval from the Unix epoch,
 * with offsetMs = FNV-1a 64 of (instance, probe, interval) mod interval, as Prometheus spreads its
 * scrape targets (hash % interval). Why: if the phase came from the first run, every probe of every
 * instance would keep the phase of the start-up jitter window (10 s by default) and all 30 s probes
 * would come due in the same 10 s of every 30 s (start lag in bursts, docs/performance.md); a hash
 * spreads them over the whole interval. Why a hash and epoch alignment rather than a random phase:
 * a restart or reload puts each probe back on the same slot. The interval is part of the key so
 * that changing it reshuffles the probe rather than keeping a phase chosen for another period.
 */
export function slotOffsetMs(instance: string, probe: string, intervalMs: number): number {
  // Instance and probe names never contain NUL, so ("ab", "c") and ("a", "bc") stay distinct keys.
  return Number(fnv1a64(`${instance}\0${probe}\0${intervalMs}`) % BigInt(intervalMs));
}

/** The first slot (offsetMs + k·interval) at or after time `t` (Unix ms). */
export function slotAtOrAfter(t: number, intervalMs: number, offsetMs: number): number {
  return t + nonNegativeMod(offsetMs - t, intervalMs);
}

/**
 * When the second run is due, moving the probe from its first run (soon after start) onto its slot
 * grid: the first slot at least `timeoutMs` after the first run's scheduled time, so the gap is in
 * [timeout, timeout + interval).
 * - Upper bound: the gap stays below interval + timeout, the detection bound ("a probe notices a
 *   fault within one interval plus its timeout"), because a slot comes once per interval.
 * - Lower bound: a run ends by its deadline, so the first run is over by then and this tick is
 *   not counted as a skipped run (which users alert on) unless the run waited for a concurrency
 *   slot. timeout is the largest minimum the upper bound allows; a shorter one such as
 *   min(interval/2, timeout) differs only when timeout > interval/2, and then a run longer than
 *   interval/2 but within its deadline (fine at the steady rate) could be skipped here.
 *   With the default settings (every timeout ≤ interval/2) both rules give the same slot.
 */
export function secondRunAt(firstAt: number, intervalMs: number, offsetMs: number, timeoutMs: number): number {
  return slotAtOrAfter(firstAt + timeoutMs, intervalMs, offsetMs);
}

/**
 * After a long stall (suspended VM, blocked loop) the latest missed tick instead of a burst of all
 * of them. Moves by whole intervals, so a tick on the slot grid stays on it.
 */
function skipMissedTicks(due: number, now: number, intervalMs: number): number {
  if (due >= now - intervalMs) return due;
  return due + Math.floor((now - due) / intervalMs) * intervalMs;
}

function nonNegativeMod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

const FNV64_OFFSET_BASIS = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;

/** FNV-1a, 64 bit, over the UTF-8 bytes: cheap, stable across versions and platforms. */
function fnv1a64(text: string): bigint {
  let hash = FNV64_OFFSET_BASIS;
  for (const byte of Buffer.from(text, 'utf8')) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * FNV64_PRIME);
  return hash;
}
