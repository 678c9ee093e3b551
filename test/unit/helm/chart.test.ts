/**
 * The Helm chart (helm/vcf-sentinel) rendered offline with `helm template`, checked against the code it
 * deploys: the ConfigMap carries exactly the config schema's non-secret names, every pod's environment
 * loads through the real config loader, secrets never reach the ConfigMap, and the Deployments run the
 * right roles with the right probes and ports.
 *
 * Needs the helm and kubectl binaries from `bash scripts/get-helm.sh` (node_modules/.cache/vcf-helm, or
 * VCF_HELM_DIR). Without them the suite is skipped with a message, unless VCF_HELM_REQUIRED=1
 * (`npm run helm:check` sets it), which makes a missing binary a failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load';
import { configSchema } from '../../../src/config/schema';
import { QUEUES } from '../../../src/queue/names';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHART = path.join(ROOT, 'helm', 'vcf-sentinel');
const PRODUCTION_VALUES = path.join(CHART, 'ci', 'production-values.yaml');
const BIN_DIR = process.env.VCF_HELM_DIR || path.join(ROOT, 'node_modules', '.cache', 'vcf-helm');
const HELM = path.join(BIN_DIR, 'helm');
const KUBECTL = path.join(BIN_DIR, 'kubectl');
const AVAILABLE = existsSync(HELM) && existsSync(KUBECTL);

/** Settings that are always secret: never in the ConfigMap, only in the Secret (or an existing one). */
const ALWAYS_SECRET = ['API_TOKEN', 'FHIR_CLIENT_SECRET'];
/** Settings that move to the Secret when they carry credentials. */
const SECRET_WITH_CREDENTIALS = ['REDIS_URL', 'DICOMWEB_SOURCES'];
const SCHEMA_KEYS = Object.keys(configSchema.shape).sort();

/** The fake secrets in ci/production-values.yaml: none may appear outside the Secret. */
const PRODUCTION_SECRET_VALUES = [
  'fake-api-token-0b7e5d',
  'fake-fhir-secret-c4a1',
  'fake-redis-password-7f3a',
  'fake-dicomweb-token-91c2',
  'fake-vna-password-55d0',
];

interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  args?: string[];
  ports?: Array<{ name: string; containerPort: number; protocol?: string }>;
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: Array<Record<string, unknown> & { name: string }>;
  topologySpreadConstraints?: unknown[];
}
interface ScaledObjectSpec {
  scaleTargetRef: Record<string, string>;
  triggers: Array<{ type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }>;
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: Record<string, unknown> & { matchLabels?: Record<string, string> };
    template?: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    ports?: Array<{ name: string; port: number; targetPort: string | number }>;
    type?: string;
    loadBalancerSourceRanges?: string[];
    externalTrafficPolicy?: string;
    ingress?: Array<{ ports?: Array<{ port: string | number }>; from?: Array<{ ipBlock?: { cidr: string } }> }>;
  };
}

/** Splits kubectl's stream of pretty-printed JSON objects (one per manifest). */
function parseJsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

/** `helm template` the chart, then let kubectl (offline, --local) parse every manifest into JSON. */
function render(valuesFiles: string[] = [], sets: string[] = []): K8sObject[] {
  const args = ['template', 'vcf', CHART, '--namespace', 'radiology'];
  for (const f of valuesFiles) args.push('--values', f);
  for (const s of sets) args.push('--set', s);
  const yaml = execFileSync(HELM, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // KUBECONFIG=/dev/null: --local never contacts a cluster; make sure no kubeconfig is even read.
  const json = execFileSync(
    KUBECTL,
    ['label', '--local', '--dry-run=client', '-f', '-', '-o', 'json', 'vcf-sentinel.test/parsed=true'],
    { input: yaml, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '/dev/null' } },
  );
  return parseJsonStream(json) as K8sObject[];
}

/** The error message of a render that must fail. */
function renderError(valuesFiles: string[], sets: string[]): string {
  try {
    render(valuesFiles, sets);
  } catch (err) {
    return String((err as { stderr?: unknown }).stderr ?? err);
  }
  throw new Error(`rendering with ${sets.join(' ')} was expected to fail`);
}

function find(objects: K8sObject[], kind: string, nameSuffix: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (!found) throw new Error(`no ${kind} *${nameSuffix} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

function container(deployment: K8sObject): Container {
  const c = deployment.spec?.template?.spec.containers[0];
  if (!c) throw new Error(`${deployment.metadata.name} has no container`);
  return c;
}

function secretData(objects: K8sObject[]): Record<string, string> {
  const secret = objects.find((o) => o.kind === 'Secret');
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret?.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  return data;
}

/** The environment a container of this Deployment starts with: ConfigMap, then Secret, then env. */
function podEnv(objects: K8sObject[], deployment: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  const c = container(deployment);
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, find(objects, 'ConfigMap', from.configMapRef.name).data);
    if (from.secretRef) Object.assign(env, secretData(objects));
  }
  for (const e of c.env ?? []) env[e.name] = e.value ?? '';
  return env;
}

const describeChart = AVAILABLE ? describe : describe.skip;
if (!AVAILABLE) {
  const message = `helm chart tests skipped: no helm/kubectl in ${BIN_DIR} (run \`bash scripts/get-helm.sh\`)`;
  if (process.env.VCF_HELM_REQUIRED === '1') throw new Error(message);
  console.warn(message);
}

describe('helm/vcf-sentinel/values.schema.json (no helm needed)', () => {
  it('validates exactly the schema names that are plain config values (typos fail helm lint/template/install)', () => {
    const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as {
      properties: { config: { properties: Record<string, unknown>; additionalProperties: boolean }; secrets: { properties: Record<string, unknown> } };
    };
    const own = [...ALWAYS_SECRET, ...SECRET_WITH_CREDENTIALS];
    expect(Object.keys(schema.properties.config.properties).sort()).toEqual(SCHEMA_KEYS.filter((k) => !own.includes(k)));
    expect(schema.properties.config.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties.secrets.properties).sort()).toEqual([...ALWAYS_SECRET].sort());
  });
});

describeChart(`helm chart helm/vcf-sentinel (helm template with ${HELM})`, () => {
  let defaults: K8sObject[];
  let production: K8sObject[];
  beforeAll(() => {
    defaults = render();
    production = render([PRODUCTION_VALUES]);
  });

  describe('ConfigMap against src/config/schema.ts', () => {
    it('default values: the ConfigMap holds exactly the schema names that are not always secret', () => {
      const keys = Object.keys(find(defaults, 'ConfigMap', 'vcf-sentinel').data ?? {}).sort();
      expect(keys).toEqual(SCHEMA_KEYS.filter((k) => !ALWAYS_SECRET.includes(k)));
      // Nothing secret was given, so no Secret is rendered or referenced.
      expect(defaults.filter((o) => o.kind === 'Secret')).toEqual([]);
    });

    it('production values: ConfigMap + Secret hold every schema name exactly once, secrets in the Secret', () => {
      const cm = Object.keys(find(production, 'ConfigMap', 'vcf-sentinel').data ?? {});
      const secret = Object.keys(secretData(production));
      expect([...cm, ...secret].sort()).toEqual(SCHEMA_KEYS);
      expect(secret.sort()).toEqual([...ALWAYS_SECRET, ...SECRET_WITH_CREDENTIALS].sort());
    });

    it('no Secret value appears in the ConfigMap, the Deployments or any other non-Secret object', () => {
      const secrets = secretData(production);
      expect(Object.keys(secrets).length).toBeGreaterThan(0);
      const exposed = JSON.stringify(production.filter((o) => o.kind !== 'Secret'));
      for (const value of [...Object.values(secrets), ...PRODUCTION_SECRET_VALUES]) expect(exposed).not.toContain(value);
      // ...and the fakes really are in the Secret (the check above is not vacuous).
      const inSecret = Object.values(secrets).join('\n');
      for (const value of PRODUCTION_SECRET_VALUES) expect(inSecret).toContain(value);
    });

    it.each([
      ['default', () => defaults],
      ['production', () => production],
    ])('%s values: every pod environment loads through the real config loader', (_name, objects) => {
      for (const suffix of ['-api', '-worker']) {
        const env = podEnv(objects(), find(objects(), 'Deployment', suffix));
        expect(() => loadConfig(env)).not.toThrow();
        // Every schema name is set by the chart (the image's config/default.json is only a fallback),
        // except the always-secret ones when no secret was given.
        for (const key of SCHEMA_KEYS) if (!ALWAYS_SECRET.includes(key) || objects() === production) expect(env).toHaveProperty(key);
      }
    });

    it('numbers render as plain integers and maps as JSON', () => {
      const data = find(production, 'ConfigMap', 'vcf-sentinel').data ?? {};
      expect(data.HL7_DUPLICATE_WINDOW_S).toBe('604800');
      expect(data.STUDY_STATE_TTL_S).toMatch(/^\d+$/);
      expect(JSON.parse(data.PATIENT_ID_SYSTEMS ?? '')).toEqual({ HOSP: 'urn:oid:1.2.3.4.5.6' });
      const cfg = loadConfig(podEnv(production, find(production, 'Deployment', '-api')));
      expect(cfg.DICOMWEB_SOURCES.default?.auth).toEqual({ type: 'bearer', token: 'fake-dicomweb-token-91c2' });
      expect(cfg.REDIS_URL).toContain('fake-redis-password-7f3a');
    });
  });

  describe('Deployments', () => {
    it.each([
      ['-api', 'api'],
      ['-worker', 'worker'],
    ])('%s runs `serve --role %s` with /healthz and /readyz probes on the http port', (suffix, role) => {
      for (const objects of [defaults, production]) {
        const c = container(find(objects, 'Deployment', suffix));
        expect(c.args).toEqual(['serve', '--role', role]);
        expect(c.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
        expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
        expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      }
    });

    it('ports: api has http (HTTP_PORT) and mllp (MLLP_PORT), the worker only http', () => {
      const data = find(defaults, 'ConfigMap', 'vcf-sentinel').data ?? {};
      const ports = (suffix: string) => container(find(defaults, 'Deployment', suffix)).ports?.map((p) => [p.name, p.containerPort]);
      expect(ports('-api')).toEqual([
        ['http', Number(data.HTTP_PORT)],
        ['mllp', Number(data.MLLP_PORT)],
      ]);
      expect(ports('-worker')).toEqual([['http', Number(data.HTTP_PORT)]]);
    });

    it('Services: http (ClusterIP) and a separate mllp Service, both on the api pods', () => {
      const api = find(defaults, 'Deployment', '-api');
      const http = find(defaults, 'Service', '-http');
      const mllp = find(defaults, 'Service', '-mllp');
      expect(http.spec?.type).toBe('ClusterIP');
      expect(http.spec?.ports?.map((p) => p.targetPort)).toEqual(['http']);
      expect(mllp.spec?.ports?.map((p) => p.targetPort)).toEqual(['mllp']);
      for (const svc of [http, mllp]) expect(api.spec?.template?.metadata.labels).toMatchObject(svc.spec?.selector ?? { missing: true });
      const prodMllp = find(production, 'Service', '-mllp');
      expect(prodMllp.spec).toMatchObject({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.20.30.0/28'], externalTrafficPolicy: 'Local' });
    });

    it('pods run non-root with a read-only root filesystem, no capabilities, and /tmp as an emptyDir', () => {
      for (const objects of [defaults, production]) {
        for (const suffix of ['-api', '-worker']) {
          const d = find(objects, 'Deployment', suffix);
          const pod = d.spec?.template?.spec;
          expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true });
          expect(container(d).securityContext).toMatchObject({
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          });
          expect(container(d).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
          expect(pod?.volumes?.find((v) => v.name === 'tmp')).toHaveProperty('emptyDir');
          expect(pod?.topologySpreadConstraints?.length).toBeGreaterThan(0);
          expect(container(d).resources?.limits?.memory).toBeDefined();
        }
      }
      expect(container(find(defaults, 'Deployment', '-worker')).resources?.limits?.memory).toBe('2Gi');
    });

    it('terminationGracePeriodSeconds exceeds preStop sleep + SHUTDOWN_TIMEOUT_MS; the api sleeps before SIGTERM', () => {
      for (const objects of [defaults, production]) {
        for (const suffix of ['-api', '-worker']) {
          const d = find(objects, 'Deployment', suffix);
          const shutdownS = Number(podEnv(objects, d).SHUTDOWN_TIMEOUT_MS) / 1000;
          const command = container(d).lifecycle?.preStop?.exec?.command;
          const sleepS = command ? Number(command[1]) : 0;
          expect(d.spec?.template?.spec.terminationGracePeriodSeconds).toBeGreaterThan(sleepS + shutdownS);
          if (suffix === '-api') {
            expect(command?.[0]).toBe('/bin/sleep');
            expect(sleepS).toBeGreaterThan(0);
          }
        }
      }
    });

    it('a config change changes the pods checksum annotation (rolls the Deployments)', () => {
      const checksum = (objects: K8sObject[]) => find(objects, 'Deployment', '-api').spec?.template?.metadata.annotations?.['checksum/config'];
      expect(checksum(defaults)).toMatch(/^[0-9a-f]{64}$/);
      expect(checksum(render([], ['config.LOG_LEVEL=debug']))).not.toBe(checksum(defaults));
      expect(checksum(render())).toBe(checksum(defaults));
    });

    it('the worker reads the model from a volume when one is given (MODEL_PATH, read-only mount)', () => {
      const w = find(production, 'Deployment', '-worker');
      expect(podEnv(production, w).MODEL_PATH).toBe('/models/vcf-unet-ref/model.onnx');
      expect(container(w).volumeMounts).toContainEqual({ name: 'model', mountPath: '/models', readOnly: true });
      expect(podEnv(defaults, find(defaults, 'Deployment', '-worker')).MODEL_PATH).toBe('models/vcf-unet-ref/model.onnx');
    });
  });

  describe('options', () => {
    it('existingSecret: no Secret rendered, pods load it, its keys stay out of the ConfigMap', () => {
      const objects = render([], ['existingSecret.name=vcf-creds', 'existingSecret.keys={API_TOKEN,FHIR_CLIENT_SECRET,REDIS_URL}']);
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
      const cm = find(objects, 'ConfigMap', 'vcf-sentinel').data ?? {};
      expect(Object.keys(cm)).not.toContain('REDIS_URL');
      expect(Object.keys(cm).sort()).toEqual(SCHEMA_KEYS.filter((k) => ![...ALWAYS_SECRET, 'REDIS_URL'].includes(k)));
      for (const suffix of ['-api', '-worker']) {
        expect(container(find(objects, 'Deployment', suffix)).envFrom).toContainEqual({ secretRef: { name: 'vcf-creds' } });
      }
    });

    it('production values render the optional objects: HPAs, PDBs, NetworkPolicies, ServiceMonitor', () => {
      const kinds = production.map((o) => `${o.kind}/${o.metadata.name}`);
      for (const name of [
        'HorizontalPodAutoscaler/vcf-vcf-sentinel-api',
        'HorizontalPodAutoscaler/vcf-vcf-sentinel-worker',
        'PodDisruptionBudget/vcf-vcf-sentinel-api',
        'PodDisruptionBudget/vcf-vcf-sentinel-worker',
        'NetworkPolicy/vcf-vcf-sentinel-api',
        'NetworkPolicy/vcf-vcf-sentinel-worker',
        'ServiceMonitor/vcf-vcf-sentinel',
      ])
        expect(kinds).toContain(name);
      // With an HPA the Deployment leaves replicas to it.
      expect(find(production, 'Deployment', '-api').spec?.replicas).toBeUndefined();
      expect(find(defaults, 'Deployment', '-api').spec?.replicas).toBe(2);
      // MLLP ingress only from the configured CIDRs.
      const np = find(production, 'NetworkPolicy', '-api');
      const mllpRule = np.spec?.ingress?.find((r) => r.ports?.some((p) => p.port === 'mllp'));
      expect(mllpRule?.from).toEqual([{ ipBlock: { cidr: '10.20.30.0/28' } }]);
    });

    it('worker.keda: a ScaledObject on the worker Deployment, one redis trigger per BullMQ wait list, and no fixed replicas', () => {
      const objects = render([], ['worker.keda.enabled=true', 'redis.url=rediss://queue.example:6380', 'config.QUEUE_PREFIX=site1', 'worker.keda.authenticationRef=redis-auth']);
      const so = find(objects, 'ScaledObject', '-worker');
      expect(so.apiVersion).toBe('keda.sh/v1alpha1');
      const spec = so.spec as unknown as ScaledObjectSpec;
      expect(spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: find(objects, 'Deployment', '-worker').metadata.name });
      const triggers = spec.triggers;
      // Every queue the workers consume, named as BullMQ keys them: <prefix>:<queue>:wait.
      expect(triggers.map((t) => t.metadata.listName).sort()).toEqual(Object.values(QUEUES).map((q) => `site1:${q}:wait`).sort());
      for (const t of triggers) {
        expect(t).toMatchObject({ type: 'redis', metadata: { address: 'queue.example:6380', enableTLS: 'true' }, authenticationRef: { name: 'redis-auth' } });
      }
      expect(triggers.find((t) => t.metadata.listName === 'site1:studies:wait')?.metadata.listLength).toBe('2');
      expect(find(objects, 'Deployment', '-worker').spec?.replicas).toBeUndefined();
      expect(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
      // The default port when redis.url has none.
      const plain = render([], ['worker.keda.enabled=true', 'redis.url=redis://redis-master']);
      expect((find(plain, 'ScaledObject', '-worker').spec as unknown as ScaledObjectSpec).triggers[0]?.metadata).toMatchObject({ address: 'redis-master:6379', enableTLS: 'false' });
    });

    it.each([
      [['worker.keda.enabled=true', 'worker.autoscaling.enabled=true'], /KEDA makes its own HPA for the worker Deployment; enable one of them/],
      // values.schema.json refuses these first; the templates refuse them too (defence in depth).
      [['config.API_TOKEN=x'], /additional properties 'API_TOKEN' not allowed|config.API_TOKEN is not allowed/],
      [['config.REDIS_URL=redis://x:6379'], /additional properties 'REDIS_URL' not allowed|config.REDIS_URL is not allowed/],
      [['api.terminationGracePeriodSeconds=5'], /api.terminationGracePeriodSeconds \(5\) must exceed/],
      [['networkPolicy.enabled=true'], /networkPolicy.mllp.allowedCidrs must list/],
      [['existingSecret.name=s', 'redis.url=redis://u:p@r:6379'], /put REDIS_URL in that Secret/],
      [['config.LOG_LEVLE=debug'], /additional properties 'LOG_LEVLE' not allowed/],
      [['config.HTTP_PORT=0'], /HTTP_PORT/],
    ])('refuses to render %j', (sets, message) => {
      expect(renderError([], sets)).toMatch(message);
    });
  });
});
