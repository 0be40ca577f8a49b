import { expect } from 'vitest';

import { NotifyError } from '../notify-error.js';

/** The NotifyError a send rejects with (the test fails when it resolves or rejects with anything else). */
export async function failure(promise: Promise<unknown>): Promise<NotifyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NotifyError);
  return error as NotifyError;
}
