/**
 * One card per unreported fracture (CLINICAL.md "What to propose"), built from the index entry alone.
 * One card per finding rather than one listing several: each finding has its own answer (a clinician
 * may accept the work-up for T12 and say "not a fracture" for T7), and CDS Hooks feedback names a card.
 */
import type { Reference, ServiceRequest } from '@medplum/fhirtypes';
import type { CardFinding } from '../../store/cds';
import { REFERRALS, type ReferralKind, genantGradeName } from '../fhir/codes';
import { OVERRIDE_REASON_CODINGS, TOPIC } from './codes';
import { suggestionPlan } from './finding';
import { isPossiblyPathologic } from '../../domain/vocabulary';
import type { CdsCard, CdsLink, CdsSuggestion } from './types';

/**
 * Flags that would make a grade-3 card critical: posterior wall involvement / retropulsion (canal
 * compromise). The detector does not emit such a flag yet; the card is ready for it.
 */
const CRITICAL_FLAGS: readonly string[] = ['posteriorWall', 'retropulsion'];

/** CDS Hooks: summary SHALL be under 140 characters. */
export const SUMMARY_MAX = 139;

export interface CardContext {
  /** The service's public base URL (PUBLIC_BASE_URL, else from the request), no trailing slash. */
  baseUrl: string;
  /** Where our FHIR resources can be read: FHIR_BASE_URL, else the embedded store at {baseUrl}/fhir/R4. */
  fhirBaseUrl: string;
  /** VIEWER_URL_TEMPLATE, or null. */
  viewerUrlTemplate: string | null;
  /** The EHR's id of the Patient being viewed (context.patientId): the proposal's subject. */
  patientId: string;
  /** Makes a path openable without our bearer token (a signed, short-lived link); identity when none is needed. */
  signPath: (path: string) => string;
}

export function indicatorOf(f: Pick<CardFinding, 'grade' | 'flags'>): CdsCard['indicator'] {
  if (f.grade === 3 && f.flags.some((x) => CRITICAL_FLAGS.includes(x))) return 'critical';
  if (isPossiblyPathologic(f)) return 'warning';
  return f.grade === 1 ? 'info' : 'warning';
}

export function summaryOf(f: Pick<CardFinding, 'levelText' | 'grade' | 'flags'>): string {
  const grade = `Genant grade ${f.grade} (${genantGradeName(f.grade)})`;
  const s = isPossiblyPathologic(f)
    ? `Unreported ${f.levelText} vertebral fracture on CT, possibly pathologic: ${grade}`
    : `Unreported ${f.levelText} vertebral compression fracture on CT: ${grade}`;
  return s.length <= SUMMARY_MAX ? s : `${s.slice(0, SUMMARY_MAX - 1)}…`;
}

const FLAG_TEXT: Record<string, string> = {
  scoliosis: 'scoliosis (levels and heights are harder to read)',
  partialCoverage: 'the vertebra is only partly in the scan',
  insufficientEvidence: 'the measurement does not fully demonstrate the grade',
};

const PROPOSAL_TEXT: Record<ReferralKind, string> = {
  'bone-health-workup': 'Osteoporosis / bone-health work-up: DXA, calcium, 25-OH vitamin D, renal function; consider the fracture liaison service.',
  'ir-augmentation-consult':
    'Interventional radiology consult for vertebral augmentation (vertebroplasty/kyphoplasty): eligibility needs a painful fracture and clinical review, so this is a consult, not a procedure order.',
  'oncology-spine-review': 'Oncology / spine review: the fracture may be pathologic (metastatic); assess it before any osteoporosis framing.',
};

function date(d: string | null): string {
  return d ?? 'unknown date';
}

/** GitHub-flavoured markdown, plain enough for any client: paragraphs, a list, bold. */
export function detailOf(f: CardFinding): string {
  const morphology = f.morphology ? `, ${f.morphology}` : '';
  const lines = [
    `**${f.levelText} vertebral ${isPossiblyPathologic(f) ? '' : 'compression '}fracture** on the CT of ${date(f.studyDate)}: Genant grade ${f.grade} (${genantGradeName(f.grade)})${morphology}, ${f.heightLossPercent}% height loss.`,
    '',
    `It is **not mentioned in the report of ${f.reportDate}**.`,
  ];
  const notes: string[] = [];
  if (f.levelUnanchored) notes.push(`**Level not determined**: neither the sacrum nor the last rib is in the scan; ${f.level} is a count from body sizes and may be several levels off. Locate the vertebra on the key image.`);
  else if (f.levelUncertain) notes.push(`**Level uncertain**: the vertebra may be one level above or below ${f.level}; check the numbering on the images.`);
  if (isPossiblyPathologic(f)) {
    const look = ['lytic', 'sclerotic'].filter((x) => f.flags.includes(x)).join(' and ');
    notes.push(`**Possibly pathologic**: the vertebral body looks ${look}; a metastatic fracture is possible. Oncology / spine review rather than an osteoporosis work-up.`);
  }
  for (const flag of f.flags) if (!['lytic', 'sclerotic', 'levelUncertain', 'levelUnanchored'].includes(flag)) notes.push(`Caution: ${FLAG_TEXT[flag] ?? flag}.`);
  if (f.grade >= 2 && !isPossiblyPathologic(f)) notes.push('A moderate or severe vertebral compression fracture is a prevalent fragility fracture.');
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  lines.push('', '**Proposed**:', ...f.referrals.map((r) => `- ${PROPOSAL_TEXT[r.kind]}`));
  lines.push(
    '',
    `Found by the model ${f.model.name} ${f.model.version} (${f.device}). **Not for clinical use**: a research model; confirm on the images before acting.`,
  );
  return lines.join('\n');
}

/** Our references made absolute (they live in our FHIR store, not the EHR's); logical ones kept. */
function absolute<T extends Reference>(ref: T, fhirBaseUrl: string): T {
  return ref.reference && !/^[a-z][a-z0-9+.-]*:/i.test(ref.reference) ? { ...ref, reference: `${fhirBaseUrl}/${ref.reference}` } : ref;
}

/**
 * The ServiceRequest as the EHR should create it: without our server's id and meta, about the Patient
 * the EHR is showing (its own id, with the identifier we matched on), pointing at our Observation,
 * DetectedIssue and Device by absolute URL.
 */
export function proposalForEhr(sr: ServiceRequest, ctx: CardContext): ServiceRequest {
  const { id: _id, meta: _meta, ...rest } = sr;
  return {
    ...rest,
    subject: { reference: `Patient/${ctx.patientId}`, ...(sr.subject.identifier ? { identifier: sr.subject.identifier } : {}) },
    ...(sr.requester ? { requester: absolute(sr.requester, ctx.fhirBaseUrl) } : {}),
    ...(sr.reasonReference ? { reasonReference: sr.reasonReference.map((r) => absolute(r, ctx.fhirBaseUrl)) } : {}),
    ...(sr.supportingInfo ? { supportingInfo: sr.supportingInfo.map((r) => absolute(r, ctx.fhirBaseUrl)) } : {}),
  };
}

const SUGGESTION_LABEL: Record<ReferralKind, string> = {
  'bone-health-workup': 'bone-health work-up',
  'ir-augmentation-consult': 'IR consult for vertebral augmentation',
  'oncology-spine-review': 'oncology / spine review',
};

function suggestions(f: CardFinding, ctx: CardContext): CdsSuggestion[] {
  const byKind = new Map(f.referrals.map((r) => [r.kind, r]));
  return suggestionPlan(f).map((s) => {
    const label = `Propose ${s.kinds.map((k) => SUGGESTION_LABEL[k]).join(' + ')}`;
    return {
      label,
      uuid: s.uuid,
      ...(s.recommended ? { isRecommended: true } : {}),
      actions: s.kinds.map((k) => ({
        type: 'create' as const,
        description: `Create a ServiceRequest (proposal): ${REFERRALS[k].code.coding?.[0]?.display ?? k}`,
        resource: proposalForEhr((byKind.get(k) as CardFinding['referrals'][number]).serviceRequest, ctx),
      })),
    };
  });
}

function links(f: CardFinding, ctx: CardContext): CdsLink[] {
  const out: CdsLink[] = [];
  const uid = encodeURIComponent(f.studyInstanceUid);
  if (f.keyImage) out.push({ label: `Key image: sagittal CT, ${f.level} outlined`, url: `${ctx.baseUrl}${ctx.signPath(`/studies/${uid}/key-image.png`)}`, type: 'absolute' });
  if (ctx.viewerUrlTemplate) out.push({ label: 'Open the CT in the image viewer', url: ctx.viewerUrlTemplate.replaceAll('{{studyInstanceUid}}', uid), type: 'absolute' });
  return out;
}

export function buildCard(f: CardFinding, ctx: CardContext): CdsCard {
  const sugg = suggestions(f, ctx);
  const lk = links(f, ctx);
  return {
    uuid: f.cardUuid,
    summary: summaryOf(f),
    detail: detailOf(f),
    indicator: indicatorOf(f),
    source: {
      label: `vcf-sentinel (${f.model.name} ${f.model.version}, not for clinical use)`,
      url: `${ctx.fhirBaseUrl}/${f.device}`,
      topic: TOPIC,
    },
    ...(sugg.length > 0 ? { suggestions: sugg, selectionBehavior: 'at-most-one' as const } : {}),
    overrideReasons: OVERRIDE_REASON_CODINGS,
    ...(lk.length > 0 ? { links: lk } : {}),
  };
}

const INDICATOR_RANK = { critical: 0, warning: 1, info: 2 } as const;

/** Cards most urgent first: indicator, then grade, then level name (stable for equal findings). */
export function buildCards(findings: CardFinding[], ctx: CardContext): CdsCard[] {
  return findings
    .map((f) => ({ f, card: buildCard(f, ctx) }))
    .sort((a, b) => INDICATOR_RANK[a.card.indicator] - INDICATOR_RANK[b.card.indicator] || b.f.grade - a.f.grade || a.f.findingKey.localeCompare(b.f.findingKey))
    .map((x) => x.card);
}
