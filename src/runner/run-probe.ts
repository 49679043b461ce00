import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { InstanceConfig, ProbeSettings } from '../config/schema.js';
import type { FactName } from '../core/facts.js';
import { withCurrentTokens } from '../config/tokens.js';
import { ProbeError } from '../core/errors.js';
import { describeError, timeoutError } from '../net/abort.js';
import { resolveEnvironment, type InstanceEnvironment } from '../gitlab/deployment.js';
import type { NetOptions } from '../net/options.js';
import { declaredReasons, type ProbeDefinition } from '../probes/types.js';
import { stripUserinfo } from '../text/url.js';
import { RunRecorder } from './recorder.js';
import type { ProbeResult } from './result.js';

export interface RunRequest {
  readonly probe: ProbeDefinition;
  readonly instance: InstanceConfig;
  readonly settings: ProbeSettings;
  readonly net: NetOptions;
  readonly logger: Logger;
  /** From the plan; without it the probe sees an instance whose capabilities are unknown. */
  readonly environment?: InstanceEnvironment;
  /** Aborts the run early (shutdown, reload); the deadline applies regardless. */
  readonly cancel?: AbortSignal;
  readonly scheduledAt?: number;
}

/**
 * Runs one probe once under its deadline and turns whatever happened into a ProbeResult. It never
 * throws: a probe bug becomes reason `internal`, a missed deadline `timeout`, even when the probe
 * itself ignores its signal.
 */
export async function runProbe(req: RunRequest): Promise<ProbeResult> {
  const startedAt = Date.now();
  const start = performance.now();
  const deadline = startedAt + req.settings.timeoutMs;
  const timer = AbortSignal.timeout(req.settings.timeoutMs);
  const { signal, release } = req.cancel ? either(timer, req.cancel) : { signal: timer, release: () => undefined };
  const record = new RunRecorder(req.probe.phases, req.probe.facts);
  let failure: ProbeError | undefined;
  try {
    const run = async (): Promise<void> => {
      // Token files are read again at every run that may use a token (config/tokens.ts), so a
      // rotated token is used without a reload; one that cannot be read fails, with reason `auth`,
      // only a run that uses it.
      // Outbound network probes never send a token: their runs do not touch the token files.
      const instance = req.probe.group === 'network' ? req.instance : await withCurrentTokens(req.instance, signal);
      await req.probe.run({ instance, signal, deadline, net: req.net, record, logger: req.logger, environment: req.environment ?? resolveEnvironment(req.instance, undefined) });
    };
    await settleByDeadline(run(), signal, `running ${req.probe.name}`);
  } catch (err) {
    const hung = record.openPhase();
    failure = classify(err, signal);
    // The runner's own deadline fired while a phase was still open: say which one.
    if (failure.reason === 'timeout' && hung && !failure.message.includes(` ${hung}`)) {
      failure = new ProbeError('timeout', `${failure.message} (in phase ${hung})`, { cause: failure });
    }
    if (!declaredReasons(req.probe).includes(failure.reason)) failure = undeclared(failure, req);
  } finally {
    release();
  }
  record.close();
  const undeclaredFacts = record.undeclaredFacts();
  if (undeclaredFacts.length > 0) failure = factsNotDeclared(undeclaredFacts, failure, req);
  return {
    instance: req.instance.name,
    probe: req.probe.name,
    success: failure === undefined,
    reason: failure?.reason,
    message: failure?.message ?? record.notes[0] ?? 'ok',
    notes: record.notes,
    // Shown in logs and wherever a result goes: never with an endpoint URL's user:password@.
    target: stripUserinfo(req.probe.target(req.instance)),
    startedAt,
    finishedAt: Date.now(),
    startLagMs: req.scheduledAt === undefined ? 0 : Math.max(0, startedAt - req.scheduledAt),
    durationSeconds: (performance.now() - start) / 1000,
    timeoutSeconds: req.settings.timeoutMs / 1000,
    phases: record.snapshot(),
    facts: record.facts,
    retryAfterSeconds: failure?.retryAfterSeconds,
  };
}

/**
 * A signal that aborts when `a` or `b` does, and lets go of both when released. Not
 * AbortSignal.any(): every call leaves an entry on its source signals until they abort
 * (nodejs/node#55351, still so on Node 20), and `cancel` lives as long as the scheduler, so each
 * run kept ~60 bytes for good (the soak's heap trend, docs/reliability.md).
 */
function either(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onA = (): void => controller.abort(a.reason);
  const onB = (): void => controller.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: controller.signal,
    release: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}

// Probes bound their I/O by the signal and reject right after it fires, with a message that says
// what they were waiting for; this short grace lets that specific error win over the generic one.
const SETTLE_GRACE_MS = 50;

/** Resolves or rejects with `work`, unless it is still going SETTLE_GRACE_MS after the deadline. */
function settleByDeadline(work: Promise<void>, signal: AbortSignal, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let grace: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      grace = setTimeout(() => reject(timeoutError(what)), SETTLE_GRACE_MS);
    };
    const done = (): void => {
      clearTimeout(grace);
      signal.removeEventListener('abort', onAbort);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => {
        done();
        resolve();
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}

/**
 * A reason the probe does not declare has no series in its failure_reason one-hot: rather than
 * drop the failure from the metrics, the run counts as `internal` (the declared list is wrong, an
 * exporter bug), with the real reason first in the message and a warning in the log.
 */
function undeclared(failure: ProbeError, req: RunRequest): ProbeError {
  req.logger.warn(
    { gitlab: req.instance.name, probe: req.probe.name, reason: failure.reason },
    'a probe failed with a reason it does not declare: reported as internal (an exporter bug, please report it)',
  );
  const options = { cause: failure, retryAfterSeconds: failure.retryAfterSeconds };
  return new ProbeError('internal', `${failure.reason}, a reason this probe does not declare (an exporter bug): ${failure.message}`, options);
}

/**
 * A fact the probe does not declare would have no series (metrics render a probe's declared facts
 * only), so it would vanish without a word: the declaration is wrong, an exporter bug. The run
 * fails as `internal`, naming the probe and the facts, whatever its own outcome (kept in the message).
 */
function factsNotDeclared(facts: readonly FactName[], failure: ProbeError | undefined, req: RunRequest): ProbeError {
  req.logger.warn({ gitlab: req.instance.name, probe: req.probe.name, facts }, 'a probe recorded facts it does not declare: reported as internal (an exporter bug, please report it)');
  const own = failure ? `; the run itself failed: ${failure.reason}: ${failure.message}` : '';
  const message = `${req.probe.name} recorded ${facts.join(', ')}, ${facts.length === 1 ? 'a fact' : 'facts'} it does not declare (an exporter bug, please report it)${own}`;
  return new ProbeError('internal', message, { cause: failure, retryAfterSeconds: failure?.retryAfterSeconds });
}

function classify(err: unknown, signal: AbortSignal): ProbeError {
  if (err instanceof ProbeError) return err;
  if (signal.aborted) return new ProbeError('timeout', `deadline reached: ${describeError(err)}`, { cause: err });
  return new ProbeError('internal', `unexpected error: ${describeError(err)}`, { cause: err });
}
