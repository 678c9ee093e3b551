/**
 * Conformance on real files from ../shared/fixtures/imaging (public samples). Skipped, saying so, when the
 * folder is absent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../../src/errors';
import { analyzeDirectory } from '../../../src/imaging/analyze';
import { parseHeaders, readFrameHu } from '../../../src/imaging/dicom';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import { assembleVolume, bufferFrameSource } from '../../../src/imaging/volume';

const ROOT = join(__dirname, '../../../../shared/fixtures/imaging');
const have = (p: string): boolean => existsSync(join(ROOT, p));
const maybe = (p: string) => (have(p) ? describe : describe.skip);

if (!have('')) {
  // eslint-disable-next-line no-console
  console.warn(`imaging fixture tests skipped: ${ROOT} is absent`);
}

maybe('dcmqi/ct-3slice')('real CT: dcmqi ct-3slice (GE, implicit VR little endian)', () => {
  const dir = join(ROOT, 'dcmqi/ct-3slice');
  it('parses the headers of implicit-VR files', () => {
    const h = parseHeaders(readFileSync(join(dir, '01.dcm')));
    expect(h.transferSyntaxUid).toBe('1.2.840.10008.1.2');
    const f = h.frames[0]!;
    expect(f.modality).toBe('CT');
    expect(f.rows).toBe(512);
    expect(f.columns).toBe(512);
    expect(f.imageType).toEqual(['ORIGINAL', 'PRIMARY', 'AXIAL']);
    expect(f.imagePositionPatient).toEqual([-235.199997, -226.800003, -126.690002]);
    expect(f.convolutionKernel).toBe('STANDARD');
    expect(f.patientPosition).toBe('FFS');
  });

  it('assembles the three slices with spacing from positions and plausible HU', () => {
    const srcs = readdirSync(dir)
      .filter((f) => f.endsWith('.dcm'))
      .map((f) => {
        const buf = readFileSync(join(dir, f));
        return bufferFrameSource(parseHeaders(buf).frames[0]!, buf);
      });
    const { volume, report } = assembleVolume(srcs);
    expect(volume.dims).toEqual([512, 512, 3]);
    expect(volume.spacing[2]).toBeCloseTo(1, 3);
    expect(report.nominalSliceThicknessMm).toBe(1.25);
    // Air outside the body and soft tissue/bone inside.
    expect(volume.data[0]).toBeLessThan(-900);
    const centre = volume.data[256 + 256 * 512 + 512 * 512]!;
    expect(centre).toBeGreaterThan(-200);
  });

  it('analyze-study rejects three slices (2 mm) as too short to hold a vertebra, and reads them when that rule is lifted', () => {
    expect(() => analyzeDirectory(dir)).toThrow(/covers 2 mm along the body axis: too short to hold a vertebral body/);
    const { analysis } = analyzeDirectory(dir, { minExtentMm: 0 });
    expect(analysis.seriesInstanceUid).toBe('1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1');
    expect(analysis.volume.dims).toEqual([512, 512, 3]);
    expect(analysis.volume.orientation).toBe('LPS');
    expect(analysis.model).toBeNull();
    expect(analysis.vertebrae).toEqual([]);
  });
});

maybe('pydicom')('real CT: pydicom samples (explicit VR, stubs and a non-DICOM README)', () => {
  it('skips non-DICOM files with a note and falls back past a series with a gap', () => {
    // The usable series is a 16×16×5 stub (10 mm): lift the 20 mm extent rule to test the fallback.
    const { analysis } = analyzeDirectory(join(ROOT, 'pydicom'), { minExtentMm: 0 });
    expect(analysis.input.skipped.map((s) => s.file)).toContain('README.txt');
    expect(analysis.series.chosen.seriesNumber).toBe(5);
    expect(analysis.series.rejected.find((r) => r.seriesNumber === 2)?.reason).toMatch(/gap of 202\.5 mm/);
    expect(analysis.volume.dims).toEqual([16, 16, 5]);
    expect(analysis.volume.spacingMm[2]).toBe(2.5);
  });

  it('reads CT_small.dcm (explicit VR little endian, signed pixels)', () => {
    const h = parseHeaders(readFileSync(join(ROOT, 'pydicom/CT_small.dcm'))).frames[0]!;
    expect(h.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(h.rows).toBe(128);
    expect(h.pixelRepresentation).toBe(1);
  });
});

maybe('totalsegmentator/example_ct_dicom')('real CT: TotalSegmentator DICOM (JPEG 2000 lossless)', () => {
  it('rejects the compressed series with a clear VOLUME_INVALID reason', () => {
    let err: unknown;
    try {
      analyzeDirectory(join(ROOT, 'totalsegmentator/example_ct_dicom'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('VOLUME_INVALID');
    expect((err as AppError).message).toMatch(/JPEG 2000 Lossless.*Explicit VR Little Endian/);
  });
});

/** dcmtk's RLE encoder as an independent reference, when installed (Debian package dcmtk). */
const DCMCRLE = ['/usr/bin/dcmcrle', '/usr/local/bin/dcmcrle'].find((p) => existsSync(p));
(DCMCRLE ? describe : describe.skip)('RLE Lossless written by dcmtk (dcmcrle)', () => {
  it('decodes to the same HU as the uncompressed original', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vcf-rle-'));
    try {
      const { files } = phantomBuffers({ size: 64, pixelSpacing: 6, sliceSpacing: 3, slices: 2, seed: 9 });
      const src = join(dir, 'a.dcm');
      const dst = join(dir, 'b.dcm');
      writeFileSync(src, files[0]!.data);
      execFileSync(DCMCRLE!, [src, dst]);
      const a = readFileSync(src);
      const b = readFileSync(dst);
      const hb = parseHeaders(b).frames[0]!;
      expect(hb.transferSyntaxUid).toBe('1.2.840.10008.1.2.5');
      const ha = parseHeaders(a).frames[0]!;
      const oa = new Int16Array(64 * 64);
      const ob = new Int16Array(64 * 64);
      readFrameHu(a, ha, oa, 0);
      readFrameHu(b, hb, ob, 0);
      expect(Array.from(ob)).toEqual(Array.from(oa));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** dcmtk's lossless JPEG encoder/decoder as the reference, when installed. */
const DCMCJPEG = ['/usr/bin/dcmcjpeg', '/usr/local/bin/dcmcjpeg'].find((p) => existsSync(p));
const DCMDJPEG = ['/usr/bin/dcmdjpeg', '/usr/local/bin/dcmdjpeg'].find((p) => existsSync(p));
(DCMCJPEG && DCMDJPEG ? describe : describe.skip)('JPEG Lossless written by dcmtk (dcmcjpeg)', () => {
  it.each([
    ['SV1 (1.2.840.10008.1.2.4.70)', [] as string[]],
    ['selection value 6', ['+el', '+sv', '6']],
    ['selection value 4, point transform 1', ['+el', '+sv', '4', '+pt', '1']],
  ])('decodes %s like dcmdjpeg does', (_name, flags) => {
    const dir = mkdtempSync(join(tmpdir(), 'vcf-jpl-'));
    try {
      const { files } = phantomBuffers({ size: 64, pixelSpacing: 6, sliceSpacing: 3, slices: 2, seed: 10, signedPixels: true });
      const src = join(dir, 'a.dcm');
      const jpl = join(dir, 'b.dcm');
      const ref = join(dir, 'c.dcm');
      writeFileSync(src, files[1]!.data);
      execFileSync(DCMCJPEG!, [...flags, src, jpl]);
      execFileSync(DCMDJPEG!, [jpl, ref]);
      const b = readFileSync(jpl);
      const c = readFileSync(ref);
      const hb = parseHeaders(b).frames[0]!;
      expect(hb.transferSyntaxUid).toMatch(/^1\.2\.840\.10008\.1\.2\.4\.(57|70)$/);
      const ob = new Int16Array(64 * 64);
      const oc = new Int16Array(64 * 64);
      readFrameHu(b, hb, ob, 0);
      readFrameHu(c, parseHeaders(c).frames[0]!, oc, 0);
      expect(Array.from(ob)).toEqual(Array.from(oc));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('assembles the GE fixture re-encoded as JPEG Lossless', () => {
    if (!have('dcmqi/ct-3slice')) return;
    const dir = mkdtempSync(join(tmpdir(), 'vcf-jpl-ge-'));
    try {
      for (const f of ['01.dcm', '02.dcm', '03.dcm']) execFileSync(DCMCJPEG!, [join(ROOT, 'dcmqi/ct-3slice', f), join(dir, f)]);
      const { analysis } = analyzeDirectory(dir, { minExtentMm: 0 });
      const plain = analyzeDirectory(join(ROOT, 'dcmqi/ct-3slice'), { minExtentMm: 0 }).analysis;
      expect(analysis.volume.dims).toEqual([512, 512, 3]);
      expect(analysis.volume.huRange).toEqual(plain.volume.huRange);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
