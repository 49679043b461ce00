import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { probeFingerprint } from './fingerprint.js';
import type { PlannedProbe } from './plan.js';
import type { ProbeResult, RunTrigger } from './result.js';
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
  /** What decides whether a re-plan keeps a probe's job; default probeFingerprint. */
  readonly fingerprint?: (planned: PlannedProbe) => string;
}

interface Job {
  /** Replaced by a re-plan that keeps the job: the next run uses the new one. */
  planned: PlannedProbe;
  readonly fingerprint: string;
  timer: NodeJS.Timeout | undefined;
  cronTask: ScheduledTask | undefined;
  /** The run in flight; resolves with its result (undefined when it was not reported). */
  running: Promise<ProbeResult | undefined> | undefined;
  /** Do not start before this time (Unix ms): a 429's Retry-After. */
  notBefore: number;
  readonly cancel: AbortController;
  /** Stopped by a re-plan: no more ticks, and a run still going is not reported. */
  retired: boolean;
  /** Failed runs in a row seen by this job; the first one arms a re-check. */
  failuresInRow: number;
  /** The pending re-check, cleared when any run starts first. */
  recheckTimer: NodeJS.Timeout | undefined;
  /** When a run was last asked for over HTTP (Unix ms): the minimum gap is counted from it. */
  lastManualAt: number;
}

/** What a request to run a probe now led to. */
export type RunNowOutcome =
  | { readonly kind: 'ran'; readonly result: ProbeResult }
  /** A run was already going: its result, which is as fresh. */
  | { readonly kind: 'joined'; readonly result: ProbeResult | undefined }
  /** Asked again within the minimum gap, or GitLab's Retry-After still holds. */
  | { readonly kind: 'too_soon'; readonly retryAfterMs: number }
  | { readonly kind: 'not_scheduled' };

/** One probe on one instance asked to run now, and what came of it. */
export interface RunNowAnswer {
  readonly gitlab: string;
  readonly probe: string;
  readonly outcome: RunNowOutcome | { readonly kind: 'skipped'; readonly why: string };
}

const DEFAULT_MAX_JITTER_MS = 10_000;

/**
 * Runs each planned probe on its own schedule: a fixed-rate timer for durations (no drift: every
 * tick after the first is a slot of the probe's grid, see slotOffsetMs), node-cron for cron
 * expressions. A tick that finds the previous run still going is skipped and counted, never queued.
 */
export class Scheduler {
  #jobs: Job[];
  readonly #options: SchedulerOptions;
  readonly #fingerprint: (planned: PlannedProbe) => string;
  #maxJitterMs: number;
  #started = false;
  #stopped = false;

  constructor(planned: readonly PlannedProbe[], options: SchedulerOptions) {
    this.#options = options;
    this.#fingerprint = options.fingerprint ?? probeFingerprint;
    this.#maxJitterMs = options.maxStartJitterMs ?? DEFAULT_MAX_JITTER_MS;
    this.#jobs = planned.map((p) => this.#newJob(p));
  }

  start(): void {
    this.#started = true;
    for (const job of this.#jobs) this.#arm(job);
  }

  /**
   * Re-plans (a reload, a re-detection): a probe whose fingerprint is unchanged keeps its job, so
   * its slot, a run in flight and a Retry-After wait go on as if nothing happened, and its next run
   * uses the new plan. Changed and removed probes stop (a run in flight is aborted and not
   * reported); changed and new ones start as at start-up, after a jitter of up to
   * `maxStartJitterMs`. Before, every reload restarted every schedule: a reload a second ran each
   * probe again and again (issue #12).
   * Returns the number of jobs kept and started.
   */
  async update(planned: readonly PlannedProbe[], maxStartJitterMs = this.#maxJitterMs): Promise<{ kept: number; started: number }> {
    this.#maxJitterMs = maxStartJitterMs;
    const previous = new Map(this.#jobs.map((job) => [job.planned.key, job]));
    const fresh: Job[] = [];
    this.#jobs = planned.map((p) => {
      const job = previous.get(p.key);
      if (job && job.fingerprint === this.#fingerprint(p)) {
        previous.delete(p.key);
        job.planned = p;
        return job;
      }
      const created = this.#newJob(p);
      fresh.push(created);
      return created;
    });
    if (this.#started && !this.#stopped) for (const job of fresh) this.#arm(job);
    await retire([...previous.values()], 0);
    return { kept: planned.length - fresh.length, started: fresh.length };
  }

  /** Stops scheduling; in-flight runs get `graceMs` to finish, then are aborted. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopped = true;
    await retire(this.#jobs, graceMs, false);
  }

  #newJob(planned: PlannedProbe): Job {
    return {
      planned,
      fingerprint: this.#fingerprint(planned),
      timer: undefined,
      cronTask: undefined,
      running: undefined,
      notBefore: 0,
      cancel: new AbortController(),
      retired: false,
      failuresInRow: 0,
      recheckTimer: undefined,
      lastManualAt: 0,
    };
  }

  #arm(job: Job): void {
    const random = this.#options.random ?? Math.random;
    const { schedule } = job.planned.settings;
    const period = schedule.kind === 'every' ? schedule.ms : 60_000;
    const firstAt = Date.now() + Math.floor(random() * Math.min(period, this.#maxJitterMs));
    if (schedule.kind === 'every') this.#armFixedRate(job, firstAt, schedule.ms);
    else {
      job.timer = setTimeout(() => this.#tick(job, firstAt), firstAt - Date.now());
      job.cronTask = cron.schedule(schedule.expression, () => this.#tick(job, Date.now()), { name: job.planned.key });
    }
  }

  #armFixedRate(job: Job, firstAt: number, intervalMs: number): void {
    const { instance, probe, settings } = job.planned;
    const offsetMs = slotOffsetMs(instance.name, probe.name, intervalMs);
    const arm = (due: number, isFirst: boolean): void => {
      if (this.#stopped || job.retired) return;
      const now = Date.now();
      const at = skipMissedTicks(due, now, intervalMs);
      job.timer = setTimeout(() => {
        this.#tick(job, at);
        arm(isFirst ? secondRunAt(at, intervalMs, offsetMs, settings.timeoutMs) : at + intervalMs, false);
      }, Math.max(0, at - now));
    };
    arm(firstAt, true);
  }

  #tick(job: Job, scheduledAt: number, trigger?: RunTrigger): void {
    if (this.#stopped || job.retired) return;
    if (job.running) {
      // A re-check that meets a run in flight has nothing to add: that run is the re-check.
      if (trigger !== undefined) return;
      this.#options.logger.debug({ instance: job.planned.instance.name, probe: job.planned.probe.name }, 'previous run still going; tick skipped');
      this.#options.onSkip(job.planned);
      return;
    }
    if (Date.now() < job.notBefore) return;
    void this.#start(job, scheduledAt, trigger);
  }

  #start(job: Job, scheduledAt: number, trigger?: RunTrigger): Promise<ProbeResult | undefined> {
    // Any run that starts is at least as fresh as a pending re-check: the re-check is dropped.
    clearTimeout(job.recheckTimer);
    job.recheckTimer = undefined;
    const running = this.#run(job, scheduledAt, trigger).finally(() => {
      job.running = undefined;
    });
    job.running = running;
    return running;
  }

  /**
   * Runs a probe now, between its scheduled runs (`POST /-/probe/<name>`): the store, metrics,
   * status page and report then show the new result, and the probe's slot is unchanged. At most
   * one asked-for run per probe every `minGapMs`, and never while GitLab's Retry-After holds, so
   * the endpoint cannot be used to hammer GitLab. A run already going is joined, not doubled.
   */
  async runNow(key: string, minGapMs: number): Promise<RunNowOutcome> {
    const job = this.#jobs.find((j) => j.planned.key === key);
    if (!job || this.#stopped || !this.#started) return { kind: 'not_scheduled' };
    if (job.running) return { kind: 'joined', result: await job.running };
    const now = Date.now();
    const wait = Math.max(job.lastManualAt + minGapMs - now, job.notBefore - now);
    if (wait > 0) return { kind: 'too_soon', retryAfterMs: wait };
    job.lastManualAt = now;
    const result = await this.#start(job, now, 'manual');
    return result ? { kind: 'ran', result } : { kind: 'joined', result };
  }

  /**
   * After a first failure, one more run `recheck_after` later (at the earliest when a Retry-After
   * allows): one failed run is not yet an outage, and a failure confirmed by a re-check is what
   * alerts page on (consecutive_failures ≥ 2). A scheduled run that comes first serves as the
   * re-check (#tick drops it), so it is never later than the next scheduled run.
   */
  #armRecheck(job: Job): void {
    const delayMs = job.planned.instance.recheck_after;
    if (delayMs <= 0 || this.#stopped || job.retired) return;
    const due = Math.max(Date.now() + delayMs, job.notBefore);
    job.recheckTimer = setTimeout(() => this.#tick(job, due, 'recheck'), due - Date.now());
  }

  async #run(job: Job, scheduledAt: number, trigger?: RunTrigger): Promise<ProbeResult | undefined> {
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
    if (job.retired) return undefined;
    job.failuresInRow = result.success ? 0 : job.failuresInRow + 1;
    if (job.failuresInRow === 1) this.#armRecheck(job);
    if (this.#stopped && !result.success) return undefined;
    const reported = trigger === undefined ? result : { ...result, trigger };
    this.#options.onResult(planned, reported);
    return reported;
  }
}

/**
 * Stops jobs: no more ticks; runs in flight get `graceMs` to finish, then are aborted. Retired jobs
 * (`markRetired`) do not report the run they were in; a stopping scheduler still reports successes.
 */
async function retire(jobs: readonly Job[], graceMs: number, markRetired = true): Promise<void> {
  for (const job of jobs) {
    if (markRetired) job.retired = true;
    clearTimeout(job.timer);
    clearTimeout(job.recheckTimer);
    void job.cronTask?.destroy();
  }
  const inFlight = jobs.map((j) => j.running).filter((r): r is Promise<ProbeResult | undefined> => r !== undefined);
  if (inFlight.length === 0) return;
  let graceTimer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    graceTimer = setTimeout(resolve, graceMs);
  });
  await Promise.race([Promise.all(inFlight), grace]);
  clearTimeout(graceTimer);
  for (const job of jobs) job.cancel.abort();
  await Promise.all(inFlight);
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
