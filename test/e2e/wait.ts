import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `check` every `pollMs` until it returns a value other than undefined, or fails after
 * `timeoutMs` with `what` and the last context. A check that throws counts as "not yet" (a daemon
 * still starting); the last error is part of the failure message.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  context: () => string = () => '',
  pollMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const error = lastError === undefined ? '' : `\nlast error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${error}\n${context()}`);
    }
    await sleep(pollMs);
  }
}
