/**
 * The CDS Client's JWT (CDS Hooks 2.0 "Trusting CDS Clients"), verified with jose:
 *  - header: `alg` ES384 or RS384 only (never `none`, never HMAC: a shared secret cannot identify a
 *    client), `kid` required, `jku` honoured only when CDS_JKU_ALLOWLIST lists it for the token's issuer;
 *  - key: from the issuer's JWK Set (CDS_TRUSTED_ISSUERS), fetched once, cached, fetched again when a
 *    `kid` is unknown (key rotation), at most every 30 s;
 *  - claims: `iss` trusted, `aud` = the endpoint invoked, `exp`, `iat` and `jti` required, the token at
 *    most CDS_JWT_MAX_LIFETIME_S long and not older, `nbf` honoured; `jti` used once (Redis SET NX until
 *    the token expires).
 * Every refusal is a 401 with a JSON error that says which check failed, never the token.
 */
import { type JWTPayload, type JWTVerifyGetKey, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { AppError } from '../../errors';

export const ALGORITHMS = ['ES384', 'RS384'] as const;
/** Clock skew allowed between the CDS Client and us. */
export const CLOCK_TOLERANCE_S = 30;

export interface CdsCaller {
  iss: string;
  sub: string | null;
  tenant: string | null;
}

export interface JwtVerifierOptions {
  /** CDS_TRUSTED_ISSUERS: iss → JWK Set URL. */
  trustedIssuers: Record<string, string>;
  /** CDS_JKU_ALLOWLIST: iss → JWK Set URLs a token may name in `jku`. */
  jkuAllowlist: Record<string, string[]>;
  /** CDS_JWT_MAX_LIFETIME_S. */
  maxLifetimeS: number;
  /** Marks the token id used until `expS`; false when it was used before (a replay). */
  claimJti(iss: string, jti: string, expS: number): Promise<boolean>;
  /** Timeout for fetching a JWK Set (default 3000 ms). */
  jwksTimeoutMs?: number;
  /** Least time between two fetches of one JWK Set for an unknown kid (default 30 s; tests use 0). */
  jwksCooldownMs?: number;
}

const refuse = (why: string) => new AppError('UNAUTHORIZED', `CDS Hooks JWT: ${why}`);

export class CdsJwtVerifier {
  /** One remote JWK Set per URL, each with jose's cache and cooldown. */
  private readonly sets = new Map<string, JWTVerifyGetKey>();

  constructor(private readonly options: JwtVerifierOptions) {}

  private keySet(url: string): JWTVerifyGetKey {
    let set = this.sets.get(url);
    if (!set) {
      set = createRemoteJWKSet(new URL(url), {
        timeoutDuration: this.options.jwksTimeoutMs ?? 3000,
        // Refetch on an unknown kid at most every 30 s (a flood of bad kids must not hammer the issuer).
        cooldownDuration: this.options.jwksCooldownMs ?? 30_000,
        // And at least every 10 minutes, so a revoked key stops working.
        cacheMaxAge: 600_000,
      });
      this.sets.set(url, set);
    }
    return set;
  }

  /** Verifies `Authorization: Bearer <jwt>` for `audience` (the endpoint URL invoked); throws 401. */
  async verify(authorization: string | undefined, audience: string): Promise<CdsCaller> {
    const match = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization ?? '');
    if (!match) throw refuse('an Authorization: Bearer JWT is required');
    const token = match[1] as string;

    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw refuse('not a JWS compact JWT');
    }
    if (!ALGORITHMS.includes(header.alg as (typeof ALGORITHMS)[number])) {
      throw refuse(`alg ${JSON.stringify(String(header.alg).slice(0, 16))} is not accepted (ES384 or RS384)`);
    }
    if (typeof header.kid !== 'string' || header.kid === '') throw refuse('the header has no kid');
    if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT') throw refuse('typ must be JWT');
    const iss = unverified.iss;
    if (typeof iss !== 'string' || !Object.hasOwn(this.options.trustedIssuers, iss)) throw refuse('iss is not a trusted issuer (CDS_TRUSTED_ISSUERS)');
    let jwksUrl = this.options.trustedIssuers[iss] as string;
    if (header.jku !== undefined) {
      if (!(this.options.jkuAllowlist[iss] ?? []).includes(header.jku)) throw refuse('jku is not allow-listed for this issuer (CDS_JKU_ALLOWLIST)');
      jwksUrl = header.jku;
    }

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keySet(jwksUrl), {
        issuer: iss,
        audience,
        algorithms: [...ALGORITHMS],
        requiredClaims: ['exp', 'iat', 'jti'],
        maxTokenAge: this.options.maxLifetimeS,
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (err) {
      throw refuse(reasonOf(err));
    }
    const { exp, iat, jti } = payload as Required<Pick<JWTPayload, 'exp' | 'iat' | 'jti'>>;
    if (exp - iat > this.options.maxLifetimeS) throw refuse(`exp is more than ${this.options.maxLifetimeS} s after iat (CDS_JWT_MAX_LIFETIME_S)`);
    if (typeof jti !== 'string' || jti === '') throw refuse('jti is required');
    // Checked last: a token that fails any other check must not use up its jti.
    if (!(await this.options.claimJti(iss, jti, exp + CLOCK_TOLERANCE_S))) throw refuse('jti was already used (replay)');
    return {
      iss,
      sub: typeof payload.sub === 'string' ? payload.sub : null,
      tenant: typeof payload.tenant === 'string' ? payload.tenant : null,
    };
  }
}

/** jose's refusal as one short reason (its messages name the claim, never a value). */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? `iat is older than the longest lifetime allowed` : 'the token has expired (exp)';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return 'aud is not this endpoint';
      case 'nbf':
        return 'the token is not yet valid (nbf)';
      case 'iat':
        return err.reason === 'check_failed' ? 'iat is in the future or too old' : 'iat is required';
      default:
        return `${err.claim}: ${err.reason === 'missing' ? 'required' : 'check failed'}`;
    }
  }
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer has this kid';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'alg is not accepted';
  if (err instanceof errors.JWKSTimeout) return "the issuer's JWK Set did not answer in time";
  if (err instanceof errors.JOSEError) return `invalid token (${err.code})`;
  return "the issuer's JWK Set could not be read";
}
