/**
 * Counting FHIR outputs: a study's unreported fractures and the resources the correlation says it wrote,
 * against the resources a FHIR server holds, one per identifier; and an external FHIR server that fails.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus } from '@medplum/core';
import { type FhirRequest, FhirRouter, type HttpMethod, MemoryRepository } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { ensureFhirSchema } from '../../src/emit/fhir/schema';
import type { StudyState } from '../../src/store/studies';

export const OUTPUT_TYPES = ['Observation', 'DetectedIssue', 'ServiceRequest', 'Task', 'Device', 'Media'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

/**
 * What one correlation of one study must have written: per unreported fracture an Observation and a
 * DetectedIssue, a ServiceRequest and a Task per referral kind; once, the model's Device and the key
 * image's Media.
 */
export function expectedOutputs(state: StudyState): Record<OutputType, number> {
  const withOutputs = (state.correlation?.fractures ?? []).filter((f) => f.outputs !== null);
  const referrals = withOutputs.reduce((n, f) => n + Object.keys(f.outputs!.serviceRequests).length, 0);
  const any = withOutputs.length > 0 ? 1 : 0;
  return { Observation: withOutputs.length, DetectedIssue: withOutputs.length, ServiceRequest: referrals, Task: referrals, Device: any, Media: any };
}

/** Resources per type, and how many share an identifier with another (a duplicate write). */
export function tally(resources: Resource[]): { counts: Record<OutputType, number>; duplicates: string[] } {
  const counts = Object.fromEntries(OUTPUT_TYPES.map((t) => [t, 0])) as Record<OutputType, number>;
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const r of resources) {
    if ((OUTPUT_TYPES as readonly string[]).includes(r.resourceType)) counts[r.resourceType as OutputType]++;
    const first = (r as { identifier?: Array<{ system?: string; value?: string }> }).identifier?.[0];
    const key = `${r.resourceType} ${first?.system ?? ''}|${first?.value ?? `(no identifier: ${r.id})`}`;
    if (seen.has(key)) duplicates.push(key);
    seen.add(key);
  }
  return { counts, duplicates };
}

/** What the server does with one write (PUT) instead of answering it at once; null: answer it. */
export type WriteFault = { kind: 'status'; status: number } | { kind: 'stall'; ms: number } | null;

/**
 * An external FHIR R4 server for the service to write to: @medplum/fhir-router over a MemoryRepository
 * behind node:http (it serves the conditional update `PUT Type?identifier=`), whose next writes fail as
 * told: an error status without writing, or a stall that writes and then holds the answer back (the
 * client has given up by then, and its retry must find what was written).
 */
export class FaultyFhirServer {
  readonly repo = new MemoryRepository();
  private readonly router = new FhirRouter();
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  /** Consumed one per PUT, in order. */
  readonly writeFaults: WriteFault[] = [];
  readonly requests: { method: string; url: string; status: number | 'stalled' }[] = [];
  port = 0;

  async start(): Promise<void> {
    ensureFhirSchema();
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get fhirBase(): string {
    return `http://127.0.0.1:${this.port}/fhir/R4`;
  }

  puts(): number {
    return this.requests.filter((r) => r.method === 'PUT').length;
  }

  /** Every resource of the output types the server holds. */
  async resources(): Promise<Resource[]> {
    const all: Resource[] = [];
    for (const resourceType of OUTPUT_TYPES) all.push(...(await this.repo.searchResources({ resourceType })));
    return all;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = req.url ?? '/';
    const record = { method: req.method ?? '', url, status: 0 as number | 'stalled' };
    this.requests.push(record);
    const send = (status: number, body: unknown) => {
      record.status = status;
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(body));
    };
    if (!url.startsWith('/fhir/R4/')) return send(404, outcome('not-found', 'no such route'));
    const fault = req.method === 'PUT' ? (this.writeFaults.shift() ?? null) : null;
    if (fault?.kind === 'status') return send(fault.status, outcome('exception', `injected ${fault.status}`));

    const fhirRequest: FhirRequest = {
      method: req.method as HttpMethod,
      url: url.slice('/fhir/R4'.length),
      pathname: '',
      body: text ? JSON.parse(text) : undefined,
      params: {},
      query: {},
      headers: req.headers,
    };
    const [result, resource] = await this.router.handleRequest(fhirRequest, this.repo);
    if (fault?.kind === 'stall') {
      record.status = 'stalled';
      await new Promise((r) => setTimeout(r, fault.ms));
    }
    send(getStatus(result), resource ?? result);
  }
}

function outcome(code: string, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: code as 'exception', diagnostics }] };
}
