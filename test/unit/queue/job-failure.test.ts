import { UnrecoverableError } from 'bullmq';
import { AppError } from '../../../src/errors';
import { jobFailure, jobFailureCode } from '../../../src/queue/job-failure';

describe('job failures', () => {
  it('a retryable failure is a plain Error with the code first and its cause; any other is unrecoverable', () => {
    const cause = new AppError('DICOMWEB_UNAVAILABLE');
    const retry = jobFailure('DICOMWEB_UNAVAILABLE', 'connect ECONNREFUSED', true, cause);
    expect(retry).not.toBeInstanceOf(UnrecoverableError);
    expect(retry.message).toBe('DICOMWEB_UNAVAILABLE: connect ECONNREFUSED');
    expect(retry.cause).toBe(cause);
    expect(jobFailure('INTERNAL', 'boom', false)).toBeInstanceOf(UnrecoverableError);
    // An unrecoverable failure keeps its cause too (the worker's log reads it), and none when none is given.
    const bad = new AppError('STUDY_UNUSABLE');
    expect(jobFailure('STUDY_UNUSABLE', 'no CT series', false, bad).cause).toBe(bad);
    expect('cause' in jobFailure('INTERNAL', 'boom', false)).toBe(false);
  });

  it('reads the code back, and nothing from a message that does not start with one', () => {
    expect(jobFailureCode(jobFailure('INTERNAL', 'patient Doe^Jane: not found', false))).toBe('INTERNAL');
    expect(jobFailureCode(new Error('patient Doe^Jane: not found'))).toBeNull();
    expect(jobFailureCode('INTERNAL: a string')).toBeNull();
  });
});
