/**
 * A pretend CDS Client for the demo, the benchmark and the tests: it makes ES384 and RS384 key pairs
 * with jose, serves their public halves as a JWK Set over HTTP on 127.0.0.1 (a free port), and signs
 * CDS Hooks JWTs the way an EHR does (kid, typ JWT, iss, aud = the endpoint, iat, exp, a fresh jti).
 * Development tooling: the service itself never uses it.
 *
 *   const client = await startCdsClient();                   // client.jwksUrl, client.issuer
 *   CDS_TRUSTED_ISSUERS = { [client.issuer]: client.jwksUrl }
 *   const jwt = await client.sign({ aud: `${base}/cds-services/vcf-unreported-fracture` });
 *   await client.stop();
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type JWK, type JWTPayload, type KeyLike, SignJWT, exportJWK, generateKeyPair } from 'jose';

export interface SignOptions {
  aud: string | string[];
  alg?: 'ES384' | 'RS384';
  /** Default: the key's kid; null leaves the kid out. */
  kid?: string | null;
  iss?: string;
  sub?: string;
  tenant?: string;
  jti?: string;
  /** Epoch seconds; default now. */
  iat?: number;
  /** Seconds after iat; default 300. */
  lifetimeS?: number;
  nbf?: number;
  jku?: string;
  /** Sign with this key instead of the served one (an unknown key). */
  key?: KeyLike;
}

export interface CdsClient {
  issuer: string;
  jwksUrl: string;
  /** How many times the JWK Set was fetched. */
  jwksFetches(): number;
  /** Adds a served key (key rotation), returns its private key. */
  addKey(alg: 'ES384' | 'RS384', kid: string): Promise<KeyLike>;
  sign(o: SignOptions): Promise<string>;
  stop(): Promise<void>;
}

export async function startCdsClient(options: { issuer?: string } = {}): Promise<CdsClient> {
  const keys = new Map<string, { alg: 'ES384' | 'RS384'; privateKey: KeyLike; jwk: JWK }>();
  const addKey = async (alg: 'ES384' | 'RS384', kid: string) => {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    keys.set(kid, { alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
    return privateKey;
  };
  await addKey('ES384', 'es384-1');
  await addKey('RS384', 'rs384-1');
  let fetches = 0;
  const server = http.createServer((req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [...keys.values()].map((k) => k.jwk) }));
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = options.issuer ?? `http://127.0.0.1:${port}/ehr`;
  const kidFor = (alg: 'ES384' | 'RS384') => [...keys.entries()].find(([, k]) => k.alg === alg)?.[0] as string;

  return {
    issuer,
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    jwksFetches: () => fetches,
    addKey,
    async sign(o) {
      const alg = o.alg ?? 'ES384';
      const kid = o.kid === undefined ? kidFor(alg) : o.kid;
      // An unknown or absent kid still signs with the served key of that alg (to test the refusal).
      const key = o.key ?? ((keys.get(kid ?? '') ?? keys.get(kidFor(alg)))?.privateKey as KeyLike);
      const iat = o.iat ?? Math.floor(Date.now() / 1000);
      const claims: JWTPayload = { ...(o.tenant ? { tenant: o.tenant } : {}), ...(o.nbf !== undefined ? { nbf: o.nbf } : {}) };
      return new SignJWT(claims)
        .setProtectedHeader({ alg, typ: 'JWT', ...(kid !== null ? { kid } : {}), ...(o.jku ? { jku: o.jku } : {}) })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud)
        .setSubject(o.sub ?? 'Practitioner/demo-clinician')
        .setIssuedAt(iat)
        .setExpirationTime(iat + (o.lifetimeS ?? 300))
        .setJti(o.jti ?? randomUUID())
        .sign(key);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
