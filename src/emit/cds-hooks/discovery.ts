import { HOOK, PREFETCH_KEY, SERVICE_ID } from './codes';
import type { CdsDiscovery } from './types';

/** `GET /cds-services` (CONTRACT): one service on patient-view, prefetching the Patient for its identifiers. */
export const DISCOVERY: CdsDiscovery = {
  services: [
    {
      hook: HOOK,
      title: 'Unreported vertebral compression fracture on CT',
      description:
        'Shows a card when an AI model found a vertebral compression fracture on one of the patient\'s CTs that the radiology report ' +
        'does not mention, with its Genant grade, the key image and the proposed next step (bone-health work-up, interventional ' +
        'radiology consult, or oncology/spine review when the fracture may be pathologic). Research model: not for clinical use.',
      id: SERVICE_ID,
      prefetch: { [PREFETCH_KEY]: 'Patient/{{context.patientId}}' },
      usageRequirements:
        'The Patient must carry an identifier whose system the service maps from the HL7 assigning authority of the radiology ' +
        'reports (PATIENT_ID_SYSTEMS). Prefetch the Patient, or send fhirServer (https) with fhirAuthorization allowing Patient.read. ' +
        'Calls carry a JWT (ES384 or RS384) from an issuer the service trusts.',
    },
  ],
};
