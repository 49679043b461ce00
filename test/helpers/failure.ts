import { expect } from 'vitest';
import { ProbeError } from '../../src/core/errors.js';

/** Awaits a call that must fail, and returns its ProbeError (failing the test on anything else). */
export async function failure(promise: Promise<unknown>): Promise<ProbeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProbeError);
  return err as ProbeError;
}
