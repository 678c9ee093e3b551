/**
 * The findings as a DICOM Structured Report: TID 1500 "Measurement Report" in a Comprehensive SR
 * (SOP Class 1.2.840.10008.5.1.4.1.1.88.33), one TID 1501 "Measurement and Qualitative Evaluation Group"
 * per vertebra.
 *
 * Why TID 1500 rather than free text: the findings are measurements (three heights, height loss) and
 * evaluations (Genant grade, morphology, flags) per vertebra, which is what TID 1500 carries in a form
 * viewers and downstream systems (e.g. the DICOM SR → FHIR mapping) read without parsing prose. TID 1501
 * groups need no image coordinates, which we cannot give: the heights are measured on a curved reformat,
 * not on one source image. The group's Finding Site says which vertebra it is.
 *
 * Tree (relationship, value type, concept):
 *   CONTAINER Imaging Measurement Report (126000, DCM), template 1500
 *     HAS CONCEPT MOD  CODE Language of Content Item and Descendants = en-US
 *     HAS OBS CONTEXT  CODE Observer Type = Device; UIDREF/TEXT Device Observer UID, Name, Manufacturer, Model Name
 *     HAS CONCEPT MOD  CODE Procedure reported
 *     CONTAINS CONTAINER Image Library [ CONTAINER Image Library Group [ IMAGE key image ] ] (when sent too)
 *     CONTAINS CONTAINER Imaging Measurements
 *       CONTAINS CONTAINER Measurement Group (one per vertebra)
 *         HAS OBS CONTEXT TEXT Tracking Identifier ("T12"), UIDREF Tracking Unique Identifier
 *         CONTAINS CODE Finding = compression fracture (grade 1–3 only)
 *         HAS CONCEPT MOD CODE Finding Site = the vertebra (SNOMED CT, CID 7603; none when the level is unanchored)
 *         HAS CONCEPT MOD TEXT Algorithm Name, Algorithm Version (TID 4019)
 *         CONTAINS NUM anterior / middle / posterior height (mm), height loss (%)
 *         CONTAINS CODE Genant classification = grade 0–3; CODE morphology (when graded 1–3)
 *         CONTAINS TEXT Qualitative Evaluations: each flag and grading note
 */
import type { VertebraFinding } from '../../domain/findings';
import { bodySiteConcept } from '../fhir/codes';
import {
  type Code,
  DCM,
  FINDING_SITE,
  GENANT_CLASSIFICATION,
  HEIGHT,
  HEIGHT_LOSS,
  LANGUAGE_EN_US,
  MORPHOLOGY,
  PRIVATE_SCHEME_IDENTIFICATION,
  PROCEDURE_IMAGING,
  QUALITATIVE_EVALUATIONS,
  UNITS,
  VERTEBRAL_COMPRESSION_FRACTURE,
  genantGradeCode,
  morphologyCode,
} from './codes';
import { type InstanceRef, type ResultsContext, commonAttributes, resultUids } from './common';
import { writePart10 } from './part10';
import { derivedUid } from './uids';

export const COMPREHENSIVE_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.33';
/** DCMR, the DICOM Content Mapping Resource that defines TID 1500. */
const DCMR_UID = '1.2.840.10008.8.1.1';

type Item = Record<string, unknown>;
type Relationship = 'CONTAINS' | 'HAS CONCEPT MOD' | 'HAS OBS CONTEXT';

const concept = (c: Code) => ({ ConceptNameCodeSequence: [c] });
const container = (rel: Relationship, name: Code, children: Item[]): Item => ({
  RelationshipType: rel,
  ValueType: 'CONTAINER',
  ...concept(name),
  ContinuityOfContent: 'SEPARATE',
  ContentSequence: children,
});
const codeItem = (rel: Relationship, name: Code, value: Code): Item => ({ RelationshipType: rel, ValueType: 'CODE', ...concept(name), ConceptCodeSequence: [value] });
const textItem = (rel: Relationship, name: Code, text: string): Item => ({ RelationshipType: rel, ValueType: 'TEXT', ...concept(name), TextValue: text });
const uidItem = (rel: Relationship, name: Code, uid: string): Item => ({ RelationshipType: rel, ValueType: 'UIDREF', ...concept(name), UID: uid });
const numItem = (name: Code, value: number, unit: Code): Item => ({
  RelationshipType: 'CONTAINS',
  ValueType: 'NUM',
  ...concept(name),
  // DS holds 16 characters: two decimals are finer than the measurement.
  MeasuredValueSequence: [{ NumericValue: Math.round(value * 100) / 100, MeasurementUnitsCodeSequence: [unit] }],
});
const imageItem = (ref: InstanceRef): Item => ({
  RelationshipType: 'CONTAINS',
  ValueType: 'IMAGE',
  ReferencedSOPSequence: [{ ReferencedSOPClassUID: ref.sopClassUid, ReferencedSOPInstanceUID: ref.sopInstanceUid }],
});

/**
 * The name a reader sees for the vertebra; an unanchored level is a count from body sizes, not a level.
 * ASCII only: the file declares UTF-8, but viewers (and dcmjs 0.51 reading nested items) do not all honour it.
 */
export function trackingIdentifier(v: VertebraFinding): string {
  if (v.flags.includes('levelUnanchored')) return `vertebra counted as ${v.level} (level not determined)`;
  if (v.flags.includes('levelUncertain')) return `${v.level} or adjacent (level uncertain)`;
  return v.level;
}

function measurementGroup(ctx: ResultsContext, v: VertebraFinding): Item {
  const site = bodySiteConcept(v.level, { levelUncertain: v.flags.includes('levelUncertain'), levelUnanchored: v.flags.includes('levelUnanchored') }).coding?.[0];
  const items: Item[] = [
    textItem('HAS OBS CONTEXT', DCM.trackingIdentifier, trackingIdentifier(v)),
    uidItem('HAS OBS CONTEXT', DCM.trackingUid, derivedUid(ctx.studyInstanceUid, resultUids(ctx, 'sr').sopInstanceUid, 'vertebra', v.level)),
  ];
  if (v.grade >= 1) items.push(codeItem('CONTAINS', DCM.finding, VERTEBRAL_COMPRESSION_FRACTURE));
  if (site?.code) items.push(codeItem('HAS CONCEPT MOD', FINDING_SITE, { CodeValue: site.code, CodingSchemeDesignator: 'SCT', CodeMeaning: site.display ?? v.level }));
  items.push(
    textItem('HAS CONCEPT MOD', DCM.algorithmName, ctx.model.name),
    textItem('HAS CONCEPT MOD', DCM.algorithmVersion, ctx.model.version),
    numItem(HEIGHT.anterior, v.heightsMm.anterior, UNITS.mm),
    numItem(HEIGHT.middle, v.heightsMm.middle, UNITS.mm),
    numItem(HEIGHT.posterior, v.heightsMm.posterior, UNITS.mm),
    numItem(HEIGHT_LOSS, v.heightLossPercent, UNITS.percent),
    codeItem('CONTAINS', GENANT_CLASSIFICATION, genantGradeCode(v.grade)),
  );
  if (v.grade >= 1 && v.morphology) items.push(codeItem('CONTAINS', MORPHOLOGY, morphologyCode(v.morphology)));
  for (const flag of v.flags) items.push(textItem('CONTAINS', QUALITATIVE_EVALUATIONS, flag));
  for (const note of v.gradingNotes) items.push(textItem('CONTAINS', QUALITATIVE_EVALUATIONS, `grading note: ${note}`));
  return container('CONTAINS', DCM.measurementGroup, items);
}

/**
 * The Measurement Report of `ctx.vertebrae`. `keyImage`: the Secondary Capture sent with it, listed in the
 * Image Library and the evidence.
 */
export function buildMeasurementReport(ctx: ResultsContext, keyImage: (InstanceRef & { seriesInstanceUid: string }) | null = null): Buffer {
  const library = keyImage ? [container('CONTAINS', DCM.imageLibraryGroup, [imageItem(keyImage)])] : [];
  const content: Item[] = [
    codeItem('HAS CONCEPT MOD', DCM.language, LANGUAGE_EN_US),
    codeItem('HAS OBS CONTEXT', DCM.observerType, DCM.device),
    uidItem('HAS OBS CONTEXT', DCM.deviceObserverUid, derivedUid('device', ctx.model.sha256)),
    textItem('HAS OBS CONTEXT', DCM.deviceObserverName, ctx.model.name),
    textItem('HAS OBS CONTEXT', DCM.deviceObserverManufacturer, 'vcf-sentinel'),
    textItem('HAS OBS CONTEXT', DCM.deviceObserverModelName, `${ctx.model.name} ${ctx.model.version}`),
    codeItem('HAS CONCEPT MOD', DCM.procedureReported, PROCEDURE_IMAGING),
    container('CONTAINS', DCM.imageLibrary, library),
    container('CONTAINS', DCM.imagingMeasurements, ctx.vertebrae.map((v) => measurementGroup(ctx, v))),
  ];
  const evidence = [
    { SeriesInstanceUID: ctx.analysedSeriesInstanceUid, ReferencedSOPSequence: ctx.analysedInstances.map(sopRef) },
    ...(keyImage ? [{ SeriesInstanceUID: keyImage.seriesInstanceUid, ReferencedSOPSequence: [sopRef(keyImage)] }] : []),
  ];
  const dataset: Item = {
    ...commonAttributes(ctx, 'sr', COMPREHENSIVE_SR_STORAGE),
    CodingSchemeIdentificationSequence: [PRIVATE_SCHEME_IDENTIFICATION],
    // SR Document Series / General: type 2 sequences present and empty (no MPPS, no coded procedure).
    ReferencedPerformedProcedureStepSequence: [],
    PerformedProcedureCodeSequence: [],
    CompletionFlag: 'COMPLETE',
    // Nobody has verified it, and it is research output: UNVERIFIED and PRELIMINARY.
    VerificationFlag: 'UNVERIFIED',
    PreliminaryFlag: 'PRELIMINARY',
    CurrentRequestedProcedureEvidenceSequence: [{ StudyInstanceUID: ctx.studyInstanceUid, ReferencedSeriesSequence: evidence }],
    ValueType: 'CONTAINER',
    ...concept(DCM.imagingMeasurementReport),
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', MappingResourceUID: DCMR_UID, TemplateIdentifier: '1500' }],
    ContentSequence: content,
  };
  return writePart10(dataset, ctx.patientStudy);
}

function sopRef(i: InstanceRef) {
  return { ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid };
}
