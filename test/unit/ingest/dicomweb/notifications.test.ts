import { AppError } from '../../../../src/errors';
import { DICOM_UID, parseNotification } from '../../../../src/ingest/dicomweb/notifications';

function error(body: unknown, sources = ['default']): AppError {
  try {
    parseNotification(body, sources);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a refusal');
}

describe('study notification body', () => {
  it('accepts the CONTRACT shape; source defaults to "default"; null counts as absent; extra members ignored', () => {
    expect(parseNotification({ studyInstanceUid: '1.2.840.113619.2.55.3' }, ['default'])).toEqual({
      studyInstanceUid: '1.2.840.113619.2.55.3',
      source: 'default',
      accessionNumber: undefined,
      patientId: undefined,
    });
    expect(
      parseNotification({ studyInstanceUid: '2.25.0', source: 'pacs2', accessionNumber: 'A1', patientId: null, extra: true }, ['default', 'pacs2']),
    ).toEqual({ studyInstanceUid: '2.25.0', source: 'pacs2', accessionNumber: 'A1', patientId: undefined });
  });

  it.each([
    ['1.2.3', true],
    ['0', true],
    ['1.0.2', true],
    ['2.25.329800735698586629295641978511506172918', true],
    ['1.02.3', true], // leading zeros: not conformant, but archives hold such studies
    ['01.2', true],
    ['1..2', false],
    ['1.2.', false],
    ['.1.2', false],
    ['1.2.a', false],
    ['1.2 ', false],
    ['', false],
  ])('DICOM UID syntax: %j → %s', (uid, ok) => {
    expect(DICOM_UID.test(uid)).toBe(ok);
  });

  it('refuses UIDs over 64 characters, non-strings, missing members, non-objects: BAD_REQUEST naming the member', () => {
    const uid64 = `1.${'2'.repeat(62)}`;
    expect(parseNotification({ studyInstanceUid: uid64 }, ['default']).studyInstanceUid).toHaveLength(64);
    expect(error({ studyInstanceUid: `${uid64}3` }).message).toMatch(/^studyInstanceUid: .*64/);
    expect(error({ studyInstanceUid: 1.2 }).message).toMatch(/^studyInstanceUid:/);
    expect(error({}).code).toBe('BAD_REQUEST');
    expect(error([]).code).toBe('BAD_REQUEST');
    expect(error(undefined).code).toBe('BAD_REQUEST');
    expect(error({ studyInstanceUid: '1.2', accessionNumber: '' }).message).toMatch(/^accessionNumber:/);
    expect(error({ studyInstanceUid: '1.2', patientId: 'x'.repeat(65) }).message).toMatch(/^patientId:/);
  });

  it('never echoes the refused value (it may be an identifier)', () => {
    expect(error({ studyInstanceUid: '1.2', patientId: `SECRET-${'x'.repeat(80)}` }).message).not.toContain('SECRET');
  });

  it('an unknown source is DICOMWEB_SOURCE_UNKNOWN (400)', () => {
    const e = error({ studyInstanceUid: '1.2', source: 'other' });
    expect(e.code).toBe('DICOMWEB_SOURCE_UNKNOWN');
    expect(e.spec.http).toBe(400);
    // Object prototype names are not sources.
    expect(error({ studyInstanceUid: '1.2', source: 'constructor' }).code).toBe('DICOMWEB_SOURCE_UNKNOWN');
  });
});
