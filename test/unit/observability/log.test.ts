import { uidTag } from '../../../src/domain/digest';
import { withoutUids } from '../../../src/log';

describe('withoutUids', () => {
  it("replaces every DICOM UID in a library's message by its hash tag, the one study log lines carry", () => {
    const uid = '1.2.826.0.1.3680043.8.498.12345678901234567890';
    const msg = `Missing lock for job study:${uid}:1733300000000. moveToFinished`;
    expect(withoutUids(msg)).toBe(`Missing lock for job study:uid#${uidTag(uid)}:1733300000000. moveToFinished`);
    expect(withoutUids(`${uid} and 2.25.1234.5678`)).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
  });

  it('leaves versions, times, decimals and IPv4 addresses alone', () => {
    const text = 'bullmq 6.7.0 at 12:30:05.123, 2.5 s, v2.5.1, connect ECONNREFUSED 10.0.0.1:6379';
    expect(withoutUids(text)).toBe(text);
    expect(withoutUids('1.2.3.400')).toBe(`uid#${uidTag('1.2.3.400')}`);
  });
});
