/**
 * The instances written back to PACS, built and read back with dcmjs: the Secondary Capture's pixels and
 * attributes, the TID 1500 Structured Report's content tree against the findings, the copied patient/study
 * attributes, and UIDs that stay the same for the same analysis and change with it.
 */
import { PNG } from 'pngjs';
import type { VertebraFinding } from '../../../../src/domain/findings';
import { type ResultsContext, analysisFingerprint, buildResultInstances, patientStudyAttributes, readPart10, resultUids } from '../../../../src/emit/dicom';
import { COMPREHENSIVE_SR_STORAGE } from '../../../../src/emit/dicom/structured-report';
import { UID_PATTERN } from '../../../../src/ingest/dicomweb/constants';

type Ds = Record<string, unknown>;

const STUDY = '1.2.826.0.1.3680043.8.498.1001';
const SERIES = '1.2.826.0.1.3680043.8.498.1002';

function vertebra(level: VertebraFinding['level'], grade: VertebraFinding['grade'], extra: Partial<VertebraFinding> = {}): VertebraFinding {
  return {
    level,
    centerMm: [0, 20, -200],
    grade,
    morphology: grade > 0 ? 'wedge' : null,
    heightLossPercent: grade > 0 ? 31.456 : 4,
    heightsMm: { anterior: 17.234, middle: 21.01, posterior: 25.1 },
    confidence: 0.9,
    flags: [],
    gradingNotes: [],
    ...extra,
  };
}

/** The source's QIDO-RS study answer, as Orthanc gives it (PN as an object, a non-ASCII name). */
const SOURCE_STUDY = {
  '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Müller^Anna' }] },
  '00100020': { vr: 'LO', Value: ['PID-77'] },
  '00100030': { vr: 'DA', Value: ['19480101'] },
  '00100040': { vr: 'CS', Value: ['F'] },
  '00080020': { vr: 'DA', Value: ['20260301'] },
  '00080030': { vr: 'TM', Value: ['140500'] },
  '00080050': { vr: 'SH', Value: ['ACC-9'] },
  '00081030': { vr: 'LO', Value: ['CT TAP'] },
  '0020000D': { vr: 'UI', Value: [STUDY] },
  '00080061': { vr: 'CS', Value: ['CT'] },
};

function context(overrides: Partial<ResultsContext> = {}): ResultsContext {
  return {
    studyInstanceUid: STUDY,
    analysedSeriesInstanceUid: SERIES,
    analysedInstances: [1, 2, 3].map((n) => ({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: `${SERIES}.${n}` })),
    patientStudy: patientStudyAttributes(SOURCE_STUDY),
    model: { name: 'vcf-unet-ref', version: '0.2.0', sha256: 'a'.repeat(64) },
    vertebrae: [vertebra('T11', 0), vertebra('T12', 2), vertebra('L1', 1, { flags: ['levelUncertain', 'insufficientEvidence'], gradingNotes: ['capped: 8 mm slices'] })],
    analysedAt: new Date(2026, 2, 1, 15, 4, 5),
    ...overrides,
  };
}

function png(width: number, height: number, colour: boolean): Buffer {
  const image = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    const g = i % 256;
    image.data.set(colour && i === 0 ? [255, 40, 40, 255] : [g, g, g, 255], i * 4);
  }
  return PNG.sync.write(image);
}

const seq = (ds: Ds, key: string) => (ds[key] as Ds[] | undefined) ?? [];
const conceptOf = (item: Ds) => seq(item, 'ConceptNameCodeSequence')[0] as { CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string } | undefined;
const named = (items: Ds[], codeValue: string) => items.filter((i) => conceptOf(i)?.CodeValue === codeValue);
const one = (items: Ds[], codeValue: string): Ds => {
  const found = named(items, codeValue);
  expect(found).toHaveLength(1);
  return found[0] as Ds;
};
const num = (item: Ds) => {
  const mv = seq(item, 'MeasuredValueSequence')[0] as Ds;
  return { value: Number(mv.NumericValue), unit: (seq(mv, 'MeasurementUnitsCodeSequence')[0] as Ds).CodeValue };
};

describe('results back to PACS: dataset builders', () => {
  it('the Secondary Capture: RGB pixels of the key image, its study and patient, AI series, burned-in labels', () => {
    const ctx = context();
    const [sc] = buildResultInstances(ctx, ['sc'], png(5, 3, true));
    expect(sc?.kind).toBe('sc');
    const ds = readPart10(sc!.buffer);
    expect(ds).toMatchObject({
      TransferSyntaxUID: '1.2.840.10008.1.2.1',
      MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
      SOPInstanceUID: sc!.sopInstanceUid,
      SeriesInstanceUID: sc!.seriesInstanceUid,
      StudyInstanceUID: STUDY,
      PatientID: 'PID-77',
      PatientBirthDate: '19480101',
      AccessionNumber: 'ACC-9',
      StudyDate: '20260301',
      StudyDescription: 'CT TAP',
      SpecificCharacterSet: 'ISO_IR 192',
      Modality: 'OT',
      Manufacturer: 'vcf-sentinel',
      ConversionType: 'WSD',
      BurnedInAnnotation: 'YES',
      ImageType: ['DERIVED', 'SECONDARY'],
      ContentDate: '20260301',
      ContentTime: '150405',
      SamplesPerPixel: 3,
      PhotometricInterpretation: 'RGB',
      PlanarConfiguration: 0,
      Rows: 3,
      Columns: 5,
      BitsAllocated: 8,
    });
    expect((ds.PatientName as Array<{ Alphabetic: string }>)[0]?.Alphabetic).toBe('Müller^Anna');
    expect(ds.SeriesDescription).toMatch(/NOT FOR CLINICAL USE/);
    expect((ds.SeriesDescription as string).length).toBeLessThanOrEqual(64);
    // Attributes of the source that are not Patient/Study module ones are not copied.
    expect(ds.ModalitiesInStudy).toBeUndefined();
    expect(seq(ds, 'SourceImageSequence').map((r) => r.ReferencedSOPInstanceUID)).toEqual(ctx.analysedInstances.map((i) => i.sopInstanceUid));
    // Pixels as the PNG has them, alpha dropped: the first one red, then grey ramps; padded to even length.
    const pixels = new Uint8Array((ds.PixelData as ArrayBuffer[])[0] as ArrayBuffer);
    expect(pixels.length).toBe(5 * 3 * 3 + 1);
    expect([...pixels.subarray(0, 9)]).toEqual([255, 40, 40, 1, 1, 1, 2, 2, 2]);
  });

  it('a key image without colour becomes an 8-bit MONOCHROME2 Secondary Capture', () => {
    const [sc] = buildResultInstances(context(), ['sc'], png(4, 2, false));
    const ds = readPart10(sc!.buffer);
    expect(ds).toMatchObject({ SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: 2, Columns: 4 });
    expect(ds.PlanarConfiguration).toBeUndefined();
    expect([...new Uint8Array((ds.PixelData as ArrayBuffer[])[0] as ArrayBuffer)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('no key image: no Secondary Capture (the SR alone when asked for)', () => {
    expect(buildResultInstances(context(), ['sc'], null)).toEqual([]);
    expect(buildResultInstances(context(), ['sc', 'sr'], null).map((i) => i.kind)).toEqual(['sr']);
  });

  it('the SR: a TID 1500 Measurement Report with one group per vertebra, heights, grade and flags as found', () => {
    const ctx = context();
    const [sr] = buildResultInstances(ctx, ['sr'], null);
    const ds = readPart10(sr!.buffer);
    expect(ds).toMatchObject({
      SOPClassUID: COMPREHENSIVE_SR_STORAGE,
      StudyInstanceUID: STUDY,
      PatientID: 'PID-77',
      Modality: 'SR',
      CompletionFlag: 'COMPLETE',
      VerificationFlag: 'UNVERIFIED',
      PreliminaryFlag: 'PRELIMINARY',
      ValueType: 'CONTAINER',
      ContinuityOfContent: 'SEPARATE',
    });
    expect(conceptOf(ds)).toMatchObject({ CodeValue: '126000', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Imaging Measurement Report' });
    expect(seq(ds, 'ContentTemplateSequence')[0]).toMatchObject({ MappingResource: 'DCMR', TemplateIdentifier: '1500' });
    expect(seq(ds, 'CodingSchemeIdentificationSequence')[0]).toMatchObject({ CodingSchemeDesignator: '99VCFS' });
    // The evidence: the analysed series and its instances.
    const evidence = seq(ds, 'CurrentRequestedProcedureEvidenceSequence')[0] as Ds;
    expect(evidence.StudyInstanceUID).toBe(STUDY);
    expect(seq(evidence, 'ReferencedSeriesSequence').map((s) => s.SeriesInstanceUID)).toEqual([SERIES]);

    const root = seq(ds, 'ContentSequence');
    expect(seq(one(root, '121049'), 'ConceptCodeSequence')[0]).toMatchObject({ CodeValue: 'en-US', CodingSchemeDesignator: 'RFC5646' });
    expect(one(root, '121005').RelationshipType).toBe('HAS OBS CONTEXT');
    expect(seq(one(root, '121005'), 'ConceptCodeSequence')[0]).toMatchObject({ CodeValue: '121007', CodingSchemeDesignator: 'DCM' });
    expect(one(root, '121012').UID).toMatch(UID_PATTERN);
    expect(one(root, '121015').TextValue).toBe('vcf-unet-ref 0.2.0');
    expect(one(root, '121058').RelationshipType).toBe('HAS CONCEPT MOD');
    expect(one(root, '111028').ValueType).toBe('CONTAINER');
    const groups = seq(one(root, '126010'), 'ContentSequence');
    expect(groups.map((g) => conceptOf(g)?.CodeValue)).toEqual(['125007', '125007', '125007']);

    ctx.vertebrae.forEach((v, i) => {
      const items = seq(groups[i] as Ds, 'ContentSequence');
      const site = seq(one(items, '363698007'), 'ConceptCodeSequence')[0];
      expect(site).toMatchObject({ CodingSchemeDesignator: 'SCT', CodeValue: { T11: '12989004', T12: '23215003', L1: '66794005' }[v.level as string] });
      expect(num(one(items, 'anterior-height'))).toEqual({ value: Math.round(v.heightsMm.anterior * 100) / 100, unit: 'mm' });
      expect(num(one(items, 'middle-height'))).toEqual({ value: v.heightsMm.middle, unit: 'mm' });
      expect(num(one(items, 'posterior-height'))).toEqual({ value: v.heightsMm.posterior, unit: 'mm' });
      expect(num(one(items, 'height-loss'))).toEqual({ value: Math.round(v.heightLossPercent * 100) / 100, unit: '%' });
      const grade = one(items, 'RDES150');
      expect(grade.ValueType).toBe('CODE');
      expect(seq(grade, 'ConceptCodeSequence')[0]).toMatchObject({ CodeValue: `genant-${v.grade}`, CodingSchemeDesignator: '99VCFS' });
      // A fracture finding only for grades 1–3.
      expect(named(items, '121071')).toHaveLength(v.grade > 0 ? 1 : 0);
      expect(one(items, '111003').TextValue).toBe('0.2.0');
      expect(named(items, 'C0034375').map((t) => t.TextValue)).toEqual([...v.flags, ...v.gradingNotes.map((n) => `grading note: ${n}`)]);
    });
    // The level as a reader should take it.
    expect(one(seq(groups[1] as Ds, 'ContentSequence'), '112039').TextValue).toBe('T12');
    expect(one(seq(groups[2] as Ds, 'ContentSequence'), '112039').TextValue).toBe('L1 or adjacent (level uncertain)');
  });

  it('an unanchored level gets no Finding Site code, and says so', () => {
    const ctx = context({ vertebrae: [vertebra('T9', 2, { flags: ['levelUncertain', 'levelUnanchored'] })] });
    const [sr] = buildResultInstances(ctx, ['sr'], null);
    const groups = seq(one(seq(readPart10(sr!.buffer), 'ContentSequence'), '126010'), 'ContentSequence');
    const items = seq(groups[0] as Ds, 'ContentSequence');
    expect(named(items, '363698007')).toEqual([]);
    expect(one(items, '112039').TextValue).toBe('vertebra counted as T9 (level not determined)');
  });

  it('sc+sr: the SR lists the key image in its Image Library and its evidence', () => {
    const [sc, sr] = buildResultInstances(context(), ['sc', 'sr'], png(2, 2, true));
    const ds = readPart10(sr!.buffer);
    const library = seq(one(seq(ds, 'ContentSequence'), '111028'), 'ContentSequence');
    const image = seq(one(library, '126200'), 'ContentSequence')[0] as Ds;
    expect(image.ValueType).toBe('IMAGE');
    expect(seq(image, 'ReferencedSOPSequence')[0]).toEqual(expect.objectContaining({ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.7', ReferencedSOPInstanceUID: sc!.sopInstanceUid }));
    const series = seq(seq(ds, 'CurrentRequestedProcedureEvidenceSequence')[0] as Ds, 'ReferencedSeriesSequence');
    expect(series.map((s) => s.SeriesInstanceUID)).toEqual([SERIES, sc!.seriesInstanceUid]);
  });

  it('UIDs: valid, the same for the same analysis, new for another finding or model, distinct per kind', () => {
    const a = context();
    const uids = [resultUids(a, 'sc'), resultUids(a, 'sr')].flatMap((u) => [u.seriesInstanceUid, u.sopInstanceUid]);
    for (const uid of uids) {
      expect(uid).toMatch(/^2\.25\.[1-9][0-9]*$/);
      expect(uid.length).toBeLessThanOrEqual(64);
    }
    expect(new Set(uids).size).toBe(4);
    // Another time of analysis (a replay finding the same): the same instances.
    expect(resultUids(context({ analysedAt: new Date() }), 'sr')).toEqual(resultUids(a, 'sr'));
    const regraded = context({ vertebrae: [vertebra('T11', 0), vertebra('T12', 3)] });
    expect(analysisFingerprint(regraded)).not.toBe(analysisFingerprint(a));
    expect(resultUids(regraded, 'sr').sopInstanceUid).not.toBe(resultUids(a, 'sr').sopInstanceUid);
    expect(resultUids(context({ model: { ...a.model, sha256: 'b'.repeat(64) } }), 'sc').seriesInstanceUid).not.toBe(resultUids(a, 'sc').seriesInstanceUid);
    // Built twice, byte for byte the same file.
    expect(buildResultInstances(a, ['sr'], null)[0]!.buffer.equals(buildResultInstances(context(), ['sr'], null)[0]!.buffer)).toBe(true);
  });

  it('copies only the Patient/Study modules; type 2 ones the source lacks are present and empty; the notification fills in ids', () => {
    const copied = patientStudyAttributes({ '00100010': { vr: 'PN', Value: [{ Alphabetic: 'X^Y' }] }, '00080061': { vr: 'CS', Value: ['CT'] } }, { patientId: 'N-1', accessionNumber: null });
    expect(copied['00080061']).toBeUndefined();
    expect(copied['00100020']).toEqual({ vr: 'LO', Value: ['N-1'] });
    expect(copied['00080050']).toEqual({ vr: 'SH', Value: [] });
    expect(copied['00200010']).toEqual({ vr: 'SH', Value: [] });
    expect(copied['00081030']).toBeUndefined();
    const [sr] = buildResultInstances(context({ patientStudy: copied }), ['sr'], null);
    const ds = readPart10(sr!.buffer);
    expect(ds.PatientID).toBe('N-1');
    expect('AccessionNumber' in ds).toBe(true);
  });
});
