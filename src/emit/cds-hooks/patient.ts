/**
 * The Patient being viewed: from the prefetch, else read from the CDS Client's fhirServer, else 412
 * (CDS Hooks: "unable to obtain required data"). Only its identifiers are used, and only those whose
 * system PATIENT_ID_SYSTEMS maps: a report's patient and the EHR's Patient are the same person only
 * when an identifier of a system we were told to trust matches.
 */
import type { Patient } from '@medplum/fhirtypes';
import { AppError } from '../../errors';
import { patientKey } from '../../store/cds-keys';
import { PREFETCH_KEY } from './codes';
import type { PatientViewRequest } from './request';

export interface PatientFetchOptions {
  /** CDS_FHIR_TIMEOUT_MS. */
  timeoutMs: number;
  /** CDS_ALLOW_HTTP_FHIR_SERVER = loopback. */
  allowHttpLoopback: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

function isPatient(v: unknown): v is Patient {
  return typeof v === 'object' && v !== null && (v as { resourceType?: unknown }).resourceType === 'Patient';
}

/**
 * The prefetched Patient: under our key `patient`, or under any key when it is the Patient of
 * `context.patientId` (clients that reuse their own key names). A Patient that is not the one in context
 * is refused: cards for the wrong patient are the one thing this service must never show.
 */
export function prefetchedPatient(request: PatientViewRequest): Patient | null {
  const prefetch = request.prefetch ?? {};
  const ours = prefetch[PREFETCH_KEY];
  if (isPatient(ours)) {
    if (ours.id !== undefined && ours.id !== request.context.patientId) {
      throw new AppError('BAD_REQUEST', 'CDS Hooks request: prefetch.patient is not the Patient of context.patientId');
    }
    return ours;
  }
  for (const v of Object.values(prefetch)) if (isPatient(v) && v.id === request.context.patientId) return v;
  // Absent, null ("no data") or an OperationOutcome (the client could not prefetch): read it ourselves.
  return null;
}

export async function resolvePatient(request: PatientViewRequest, options: PatientFetchOptions): Promise<Patient> {
  const pre = prefetchedPatient(request);
  if (pre) return pre;
  if (!request.fhirServer) {
    throw new AppError('PRECONDITION_FAILED', 'the Patient was not prefetched (prefetch.patient) and no fhirServer was given to read it from');
  }
  const base = new URL(request.fhirServer);
  const httpAllowed = options.allowHttpLoopback && base.protocol === 'http:' && LOOPBACK.has(base.hostname);
  if (base.protocol !== 'https:' && !httpAllowed) {
    throw new AppError('PRECONDITION_FAILED', 'the Patient was not prefetched and fhirServer is not https (CDS_ALLOW_HTTP_FHIR_SERVER allows http on loopback only)');
  }
  const url = `${request.fhirServer.replace(/\/+$/, '')}/Patient/${encodeURIComponent(request.context.patientId)}`;
  const headers: Record<string, string> = { accept: 'application/fhir+json' };
  if (request.fhirAuthorization) headers.authorization = `Bearer ${request.fhirAuthorization.access_token}`;
  let res: Response;
  try {
    // No redirects: the access token must go to the server the client named, nowhere else.
    res = await fetch(url, { headers, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : 'not reachable';
    throw new AppError('PRECONDITION_FAILED', `the Patient was not prefetched and fhirServer is ${why}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new AppError('PRECONDITION_FAILED', `the Patient was not prefetched and fhirServer answered HTTP ${res.status} for it`);
  }
  const body = (await res.json().catch(() => null)) as unknown;
  if (!isPatient(body)) throw new AppError('PRECONDITION_FAILED', 'the Patient was not prefetched and fhirServer did not return a Patient');
  if (body.id !== undefined && body.id !== request.context.patientId) {
    throw new AppError('PRECONDITION_FAILED', 'fhirServer returned another Patient than context.patientId');
  }
  return body;
}

/** The index keys (`system|value`) of the Patient's identifiers under a system PATIENT_ID_SYSTEMS maps to. */
export function patientKeys(patient: Patient, patientIdSystems: Record<string, string>): string[] {
  const trusted = new Set(Object.values(patientIdSystems));
  const keys = new Set<string>();
  for (const id of patient.identifier ?? []) {
    if (id.system && id.value && trusted.has(id.system)) keys.add(patientKey({ system: id.system, value: id.value }));
  }
  return [...keys];
}
