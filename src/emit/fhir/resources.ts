/**
 * The FHIR R4 resources for one unreported fracture, exactly as CLINICAL.md lays them out: an Observation
 * (preliminary, imaging, SNOMED CT + RadElement code, CID 7603 bodySite, Genant / morphology / height-loss
 * components), the Device that made it, the key image as Media, a DetectedIssue saying "absent from the
 * report", ServiceRequest proposals per CLINICAL.md's table and a Task per proposal for the team that acts.
 *
 * Pure functions: the writer stores them and returns ids; references between our own resources use those
 * ids, references to what we do not own (patient, ImagingStudy, order, report) are logical, by identifier.
 * Retraction is the same resource with its status moved to the retracted value.
 */
import type { DetectedIssue, Device, DiagnosticReport, Identifier, ImagingStudy, Media, Observation, ObservationComponent, Patient, Reference, ServiceRequest, Task } from '@medplum/fhirtypes';
import { type FractureGrade, isPossiblyPathologic } from '../../domain/vocabulary';
import type { DetectedFracture, FractureDecision } from '../../correlate/decide';
import {
  DICOM_UID_SYSTEM, GENANT_CODE, HEIGHT_LOSS_CODE, IDENTIFIER_SYSTEMS, MORPHOLOGY_CODE, MORPHOLOGY_SYSTEM, OBSERVATION_CATEGORY, REFERRALS,
  type ReferralKind, UCUM, UNREPORTED_FINDING_CODE, VCF_CODE, accessionIdentifier, bodySiteConcept, genantGradeName, morphologyConcept,
} from './codes';
import type { ModelIdentity } from '../../domain/findings';

/** What every output of one study and report shares. */
export interface OutputContext {
  studyInstanceUid: string;
  /** DICOM StudyDate (+ StudyTime) as a FHIR date/dateTime, when known. */
  studyDate: string | null;
  /** The order (and ImagingStudy) accession number, when known. */
  accessionNumber: string | null;
  /** The patient as the report identifies them, mapped through PATIENT_ID_SYSTEMS. */
  patient: Identifier;
  /** The report the finding is absent from: its date (OBR-7, else when it was received). */
  reportDate: string;
  model: ModelIdentity;
  /** When the service decided (FHIR instant). */
  identifiedAt: string;
  /** REFERRAL_TASK_OWNER, when configured. */
  taskOwner: Task['owner'] | null;
}

/** Our own resources this finding's resources point at, once written. */
export interface WrittenRefs {
  device: string;
  keyImage: string | null;
}

const patientRef = (ctx: OutputContext): Reference<Patient> => ({ type: 'Patient', identifier: ctx.patient });
const imagingStudyRef = (ctx: OutputContext): Reference<ImagingStudy> => ({
  type: 'ImagingStudy',
  identifier: { system: DICOM_UID_SYSTEM, value: `urn:oid:${ctx.studyInstanceUid}` },
  display: 'CT study',
});
const orderRef = (ctx: OutputContext): Array<Reference<ServiceRequest>> =>
  ctx.accessionNumber ? [{ type: 'ServiceRequest', identifier: accessionIdentifier(ctx.accessionNumber) }] : [];
const reportRef = (ctx: OutputContext): Array<Reference<DiagnosticReport>> =>
  ctx.accessionNumber ? [{ type: 'DiagnosticReport', identifier: accessionIdentifier(ctx.accessionNumber), display: `radiology report of ${ctx.reportDate}` }] : [];

/** Business identifier value of a finding: study UID + level + model version. */
export function findingKey(ctx: Pick<OutputContext, 'studyInstanceUid' | 'model'>, level: string): string {
  return `${ctx.studyInstanceUid}:${level}:${ctx.model.version}`;
}

export function buildDevice(model: ModelIdentity): Device {
  // AlgorithmIdentification as the DICOM SR → FHIR IG maps it: name, version, and the file's digest.
  return {
    resourceType: 'Device',
    identifier: [{ system: IDENTIFIER_SYSTEMS.device, value: model.sha256 }],
    status: 'active',
    deviceName: [{ name: model.name, type: 'model-name' }],
    version: [{ value: model.version }],
    type: { text: 'Software: vertebral compression fracture detection model (research use, not for clinical use)' },
    note: [{ text: `ONNX model ${model.name} ${model.version}, sha256 ${model.sha256}. Not for clinical use.` }],
  };
}

export function buildKeyImage(ctx: OutputContext, png: Buffer): Media {
  return {
    resourceType: 'Media',
    identifier: [{ system: IDENTIFIER_SYSTEMS.media, value: findingKey(ctx, 'key-image') }],
    status: 'completed',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/media-type', code: 'image', display: 'Image' }] },
    partOf: [imagingStudyRef(ctx)],
    subject: patientRef(ctx),
    ...(ctx.studyDate ? { createdDateTime: ctx.studyDate } : {}),
    content: { contentType: 'image/png', data: png.toString('base64'), title: 'Sagittal reformat with vertebral levels; detected fractures outlined' },
  };
}

function quantity(value: number, unit: '%' | 'mm') {
  return { value, unit, system: UCUM, code: unit };
}

export function buildObservation(ctx: OutputContext, f: DetectedFracture, d: FractureDecision, refs: WrittenRefs, active: boolean): Observation {
  const components: ObservationComponent[] = [
    { code: GENANT_CODE, valueInteger: f.grade },
    ...(f.morphology ? [{ code: MORPHOLOGY_CODE, valueCodeableConcept: morphologyConcept(f.morphology) }] : []),
    { code: HEIGHT_LOSS_CODE, valueQuantity: quantity(f.heightLossPercent, '%') },
    ...(['anterior', 'middle', 'posterior'] as const).map((h) => ({
      code: { coding: [{ system: MORPHOLOGY_SYSTEM, code: `height-${h}`, display: `Vertebral body ${h} height` }] },
      valueQuantity: quantity(f.heightsMm[h], 'mm'),
    })),
  ];
  const flags = f.flags.length > 0 ? ` Flags: ${f.flags.join(', ')}.` : '';
  return {
    resourceType: 'Observation',
    identifier: [{ system: IDENTIFIER_SYSTEMS.observation, value: findingKey(ctx, f.level) }],
    status: active ? 'preliminary' : 'entered-in-error',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'imaging', display: 'Imaging' }] }],
    code: VCF_CODE,
    subject: patientRef(ctx),
    ...(ctx.studyDate ? { effectiveDateTime: ctx.studyDate } : {}),
    issued: ctx.identifiedAt,
    bodySite: bodySiteConcept(f.level, d),
    device: { reference: refs.device },
    basedOn: orderRef(ctx),
    partOf: [imagingStudyRef(ctx)],
    derivedFrom: [imagingStudyRef(ctx), ...(refs.keyImage ? [{ reference: refs.keyImage }] : [])],
    method: { text: 'Automated six-point morphometry on a curved sagittal CT reformat (research model, not for clinical use)' },
    component: components,
    note: [
      {
        text:
          `${d.levelText}: Genant grade ${f.grade} (${genantGradeName(f.grade)})${f.morphology ? ` ${f.morphology}` : ''} fracture, ` +
          `${f.heightLossPercent}% height loss, not mentioned in the report of ${ctx.reportDate}.${flags}`,
      },
    ],
  };
}

export function buildDetectedIssue(ctx: OutputContext, f: DetectedFracture, d: FractureDecision, observationRef: string, refs: WrittenRefs, active: boolean): DetectedIssue {
  return {
    resourceType: 'DetectedIssue',
    identifier: [{ system: IDENTIFIER_SYSTEMS.detectedIssue, value: findingKey(ctx, f.level) }],
    status: active ? 'preliminary' : 'entered-in-error',
    code: UNREPORTED_FINDING_CODE,
    severity: f.grade === 3 ? 'high' : f.grade === 2 ? 'moderate' : 'low',
    patient: patientRef(ctx),
    identifiedDateTime: ctx.identifiedAt,
    author: { reference: refs.device },
    implicated: [{ reference: observationRef }, ...reportRef(ctx)],
    detail: `${d.levelText} vertebral compression fracture (Genant grade ${f.grade}) on the CT is not mentioned in the radiology report of ${ctx.reportDate}.`,
  };
}

/** CLINICAL.md "What to propose": pathologic-looking fractures go to oncology, grade 3 also to IR. */
export function referralKinds(f: Pick<DetectedFracture, 'grade' | 'flags'>): ReferralKind[] {
  const kinds: ReferralKind[] = [isPossiblyPathologic(f) ? 'oncology-spine-review' : 'bone-health-workup'];
  if (f.grade === 3) kinds.unshift('ir-augmentation-consult');
  return kinds;
}

function priority(grade: FractureGrade): 'routine' | 'urgent' {
  return grade === 3 ? 'urgent' : 'routine';
}

export function buildServiceRequest(
  ctx: OutputContext, f: DetectedFracture, d: FractureDecision, kind: ReferralKind, refs: { observation: string; detectedIssue: string; device: string }, active: boolean,
): ServiceRequest {
  const recommended = f.grade >= 2 && kind === 'bone-health-workup' ? ' Recommended: a moderate or severe VCF is a prevalent fragility fracture.' : '';
  return {
    resourceType: 'ServiceRequest',
    identifier: [{ system: IDENTIFIER_SYSTEMS.serviceRequest, value: `${findingKey(ctx, f.level)}:${kind}` }],
    status: active ? 'active' : 'revoked',
    intent: 'proposal',
    priority: priority(f.grade),
    code: REFERRALS[kind].code,
    subject: patientRef(ctx),
    authoredOn: ctx.identifiedAt,
    requester: { reference: refs.device },
    reasonReference: [{ reference: refs.observation }],
    supportingInfo: [{ reference: refs.detectedIssue }, imagingStudyRef(ctx)],
    note: [{ text: `Proposed because of an unreported ${d.levelText} Genant grade ${f.grade} fracture on the CT of ${ctx.studyDate ?? 'unknown date'}.${recommended}` }],
  };
}

export function buildTask(ctx: OutputContext, f: DetectedFracture, d: FractureDecision, kind: ReferralKind, serviceRequestRef: string, device: string, active: boolean): Task {
  return {
    resourceType: 'Task',
    identifier: [{ system: IDENTIFIER_SYSTEMS.task, value: `${findingKey(ctx, f.level)}:${kind}` }],
    status: active ? 'requested' : 'cancelled',
    intent: 'proposal',
    priority: priority(f.grade),
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill', display: 'Fulfill the focal request' }] },
    description: `Review the proposal (${REFERRALS[kind].owner}): unreported ${d.levelText} Genant grade ${f.grade} vertebral fracture.`,
    focus: { reference: serviceRequestRef },
    for: patientRef(ctx),
    authoredOn: ctx.identifiedAt,
    requester: { reference: device },
    ...(ctx.taskOwner ? { owner: ctx.taskOwner } : {}),
  };
}

/** REFERRAL_TASK_OWNER ("Type/id" or "Type?identifier=system|value", validated by the config) as a Task.owner. */
export function taskOwnerReference(setting: string | null): Task['owner'] | null {
  if (!setting) return null;
  const logical = /^([A-Za-z]+)\?identifier=([^|]*)\|(.+)$/.exec(setting);
  if (!logical) return { reference: setting } as Task['owner'];
  const [, type, system, value] = logical;
  return { type: type as NonNullable<Task['owner']>['type'], identifier: { ...(system ? { system } : {}), value: value as string } } as Task['owner'];
}
