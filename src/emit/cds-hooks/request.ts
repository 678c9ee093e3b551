/**
 * CDS Hooks 2.0 request bodies (service call and feedback) as zod schemas: the IG's logical models
 * (CDSHooksRequest, CDSHooksFeedback) with their invariants cds-r-1, cds-fb-1..3. Unknown members pass
 * (extensions, hook-specific context); a violation is a 400 naming the member, never echoing its value.
 */
import { z } from 'zod';
import { AppError } from '../../errors';

const nonEmpty = z.string().min(1);

export const fhirAuthorizationSchema = z.looseObject({
  access_token: nonEmpty,
  token_type: z.literal('Bearer'),
  expires_in: z.number().int().nonnegative(),
  scope: nonEmpty,
  subject: nonEmpty,
  patient: nonEmpty.optional(),
});

/** Any CDS Hooks service request (any hook). */
export const cdsRequestSchema = z
  .looseObject({
    hook: nonEmpty,
    hookInstance: nonEmpty,
    fhirServer: z.url().optional(),
    fhirAuthorization: fhirAuthorizationSchema.optional(),
    context: z.looseObject({}),
    // Values may be null: "the CDS Client has no data to populate a template prefetch key".
    prefetch: z.record(z.string(), z.unknown()).optional(),
    extension: z.looseObject({}).optional(),
  })
  .refine((r) => r.fhirAuthorization === undefined || r.fhirServer !== undefined, {
    message: 'fhirServer is required when fhirAuthorization is given (cds-r-1)',
    path: ['fhirServer'],
  });

export type CdsRequest = z.infer<typeof cdsRequestSchema>;

/** The patient-view hook's context (CDS Hooks library, patient-view 1.0). */
export const patientViewContextSchema = z.looseObject({
  userId: nonEmpty.optional(),
  patientId: nonEmpty.max(64),
  encounterId: nonEmpty.optional(),
});

export interface PatientViewRequest extends CdsRequest {
  context: z.infer<typeof patientViewContextSchema>;
}

const codingSchema = z.looseObject({ system: z.string().optional(), code: nonEmpty, display: z.string().optional() });

export const feedbackItemSchema = z
  .looseObject({
    card: nonEmpty,
    outcome: z.enum(['accepted', 'overridden'], { message: "must be 'accepted' or 'overridden' (cds-fb-1)" }),
    acceptedSuggestions: z.array(z.looseObject({ id: nonEmpty })).min(1).optional(),
    overrideReason: z
      .looseObject({ reason: codingSchema.optional(), userComment: z.string().optional() })
      .refine((o) => o.reason !== undefined || o.userComment !== undefined, 'needs a reason, a userComment, or both (cds-fb-3)')
      .optional(),
    outcomeTimestamp: z.iso.datetime({ offset: true }),
  })
  .refine((f) => f.outcome !== 'accepted' || f.acceptedSuggestions !== undefined, {
    message: 'acceptedSuggestions is required when outcome is accepted (cds-fb-2)',
    path: ['acceptedSuggestions'],
  });

export const feedbackSchema = z.looseObject({ feedback: z.array(feedbackItemSchema).min(1).max(100) });
export type FeedbackItem = z.infer<typeof feedbackItemSchema>;

/** zod result → value, or AppError BAD_REQUEST naming the first bad member. */
export function parseOrBadRequest<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  throw new AppError('BAD_REQUEST', `${what}: ${where}${issue?.message ?? 'invalid'}`);
}

/** A patient-view request for this service: any CDS Hooks request, then the hook and its context. */
export function parsePatientViewRequest(body: unknown): PatientViewRequest {
  const request = parseOrBadRequest(cdsRequestSchema, body, 'CDS Hooks request');
  if (request.hook !== 'patient-view') throw new AppError('BAD_REQUEST', `CDS Hooks request: hook: this service answers patient-view, not ${JSON.stringify(request.hook.slice(0, 40))}`);
  const context = parseOrBadRequest(patientViewContextSchema, request.context, 'CDS Hooks request: context');
  return { ...request, context };
}
