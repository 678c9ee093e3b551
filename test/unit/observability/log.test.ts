import { uidTag } from '../../../src/domain/digest';
import { AppError } from '../../../src/errors';
import { withoutUids } from '../../../src/log';
import { capturingLogger } from '../../helpers/logs';

const UID = '1.2.826.0.1.3680043.8.498.12345678901234567890';
/** The UUID-derived form our phantoms use: three components only. */
const UUID_UID = '2.25.1117636261954065551905430132226269245';

describe('withoutUids', () => {
  it("replaces every DICOM UID in a library's message by its hash tag, the one study log lines carry", () => {
    const msg = `Missing lock for job study:${UID}:1733300000000. moveToFinished`;
    expect(withoutUids(msg)).toBe(`Missing lock for job study:uid#${uidTag(UID)}:1733300000000. moveToFinished`);
    expect(withoutUids(`${UID} and 2.25.1234.5678`)).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
    expect(withoutUids(`study-${UUID_UID}`)).toBe(`study-uid#${uidTag(UUID_UID)}`);
    expect(withoutUids(`/studies/${UID}/series/${UUID_UID}.`)).toBe(`/studies/uid#${uidTag(UID)}/series/uid#${uidTag(UUID_UID)}.`);
  });

  it('leaves versions, times, decimals, dates and IPv4 addresses alone', () => {
    const text = 'bullmq 6.7.0 at 12:30:05.123, 2.5 s, v2.5.1, model 0.2.0, node 20.19.43, 2026.01.01, connect ECONNREFUSED 10.0.0.1:6379, 192.168.100.200';
    expect(withoutUids(text)).toBe(text);
    expect(withoutUids('1.2.3.4')).toBe('1.2.3.4');
    expect(withoutUids('1.2.3.400')).toBe(`uid#${uidTag('1.2.3.400')}`);
  });

  it("leaves the DICOM standard's own UIDs (transfer syntaxes, SOP classes) alone: they name no patient", () => {
    const text = 'compressed transfer syntax JPEG 2000 (1.2.840.10008.1.2.4.90) has no decoder here; request 1.2.840.10008.1.2.1';
    expect(withoutUids(text)).toBe(text);
  });

  it('is idempotent', () => {
    const once = withoutUids(`job study-${UID}`);
    expect(withoutUids(once)).toBe(once);
  });
});

describe('the logger scrubs UIDs from every line at info level and above', () => {
  it('in the message, in string fields at any depth, in arrays and in interpolated arguments', () => {
    const { logger, lines } = capturingLogger('info');
    logger.warn({ event: 'x.y', reason: `lock lost for study-${UID}`, nested: { list: [`a ${UUID_UID}`, 3] } }, `job study-${UID} failed`);
    logger.info('interpolated %s', UID);
    const tag = `uid#${uidTag(UID)}`;
    expect(lines[0]).toMatchObject({ level: 'warn', reason: `lock lost for study-${tag}`, nested: { list: [`a uid#${uidTag(UUID_UID)}`, 3] }, msg: `job study-${tag} failed` });
    expect(lines[1]!.msg).toBe(`interpolated ${tag}`);
    expect(JSON.stringify(lines)).not.toContain(UID);
  });

  it("in an AppError's message (kept by the error serializer), without touching the caller's objects", () => {
    const { logger, lines } = capturingLogger('info');
    const err = new AppError('VOLUME_INVALID', `instance ${UID} has no pixel data`);
    const fields = { event: 'study.failed', err, reason: UID };
    logger.error(fields, 'study failed');
    expect(lines[0]!.err).toMatchObject({ type: 'AppError', code: 'VOLUME_INVALID', message: `instance uid#${uidTag(UID)} has no pixel data`, stack: expect.stringMatching(/^\s+at /) });
    expect(fields.reason).toBe(UID);
    expect(err.message).toContain(UID);
  });

  it('in child bindings', () => {
    const { logger, lines } = capturingLogger('debug');
    logger.child({ jobId: `study-${UID}` }).info({ event: 'x' }, 'x');
    expect(lines[0]!.jobId).toBe(`study-uid#${uidTag(UID)}`);
  });

  it('keeps UIDs at debug level, where CONTRACT allows them', () => {
    const { logger, lines } = capturingLogger('debug');
    logger.debug({ event: 'study.retrieving', studyInstanceUid: UID }, `retrieving ${UID}`);
    expect(lines[0]).toMatchObject({ studyInstanceUid: UID, msg: `retrieving ${UID}` });
  });

  it("keeps the operator's configuration as set (identifier systems are OIDs shaped like UIDs)", () => {
    const { logger, lines } = capturingLogger('info');
    const config = { PATIENT_ID_SYSTEMS: { EPIC: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14' } };
    logger.info({ event: 'config.effective', config }, 'effective configuration');
    expect(lines[0]!.config).toEqual(config);
  });

  it("never lends an Error's raw message (which may quote the input) to the line, at any level", () => {
    const { logger, lines } = capturingLogger('debug');
    // As a library words it (JSON.parse quotes the text it failed on).
    const parseError = new SyntaxError('Unexpected token \'D\', "DOE^JANE" is not valid JSON');
    logger.debug(parseError);
    logger.error({ event: 'x', err: parseError });
    expect(lines.map((l) => [l.msg, (l.err as { type: string }).type])).toEqual([
      ['SyntaxError', 'SyntaxError'],
      ['SyntaxError', 'SyntaxError'],
    ]);
    expect(JSON.stringify(lines)).not.toContain('DOE');
  });
});
