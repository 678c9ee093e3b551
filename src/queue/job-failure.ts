/**
 * What a failed job throws to BullMQ, and how its code is read back. The message starts with the error
 * code ("CODE: detail") so that the worker's failure log and the job's span can keep the code alone: the
 * detail may carry a UID or a remote server's quote of patient data (the study's status holds it in full).
 */
import { UnrecoverableError } from 'bullmq';
import type { ErrorCode } from '../errors';

/** A retryable failure is a plain Error (BullMQ tries again); any other an UnrecoverableError. */
export function jobFailure(code: ErrorCode, detail: string, retryable: boolean, cause?: unknown): Error {
  const message = `${code}: ${detail}`;
  if (retryable) return new Error(message, cause === undefined ? undefined : { cause });
  const err = new UnrecoverableError(message);
  // BullMQ's UnrecoverableError takes no options: the cause is set as Error's constructor would set it.
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  return err;
}

/** The code at the head of a job failure's message (see jobFailure), or null when there is none. */
export function jobFailureCode(err: unknown): string | null {
  return err instanceof Error ? (/^([A-Z][A-Z0-9_]+):/.exec(err.message)?.[1] ?? null) : null;
}
