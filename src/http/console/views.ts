/**
 * The console's pages, rendered on the server from the stores' own records. Every value goes through the
 * `html` escaper; links carry only opaque or non-identifying keys (a study's tag, an MSH-10), never a UID,
 * accession number or patient id. No script on these pages: forms post, links navigate.
 */
import type { Hl7MessageRecord } from '../../store/hl7-messages';
import type { FindingOutputs } from '../../store/outputs';
import type { StoredReport } from '../../store/reports';
import type { StudyState } from '../../store/studies';
import { Html, html } from './html';

export const CONSOLE_CSS = `
:root { --fg: #1d2330; --muted: #5d6678; --line: #d9dde5; --bg: #f6f7f9; --accent: #1f5fbf; --bad: #b3261e; --warn: #8a5a00; --ok: #1e7b34; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header .brand { font-weight: 600; letter-spacing: .02em; }
header nav { display: flex; gap: 1rem; flex: 1; }
header a { color: #cfd8ea; text-decoration: none; }
header a.current, header a:hover { color: #fff; text-decoration: underline; }
header form { margin: 0; }
header button { background: none; border: 1px solid #6b768c; color: #cfd8ea; border-radius: 4px; padding: .15rem .6rem; cursor: pointer; }
main { padding: 1rem 1.2rem 3rem; max-width: 1400px; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); width: 100%; }
th, td { text-align: left; padding: .3rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef0f4; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: 12px; font-weight: 600; background: #e4e7ee; }
.badge.ok { background: #dcf1e1; color: var(--ok); }
.badge.bad { background: #f9dedc; color: var(--bad); }
.badge.warn { background: #fbeccc; color: var(--warn); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; background: #fff; border: 1px solid var(--line); padding: .6rem .8rem; }
dt { color: var(--muted); }
dd { margin: 0; }
.cols { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.2rem; align-items: start; }
.keyimage { background: #000; border: 1px solid var(--line); max-width: 100%; max-height: 720px; display: block; }
details { margin: .4rem 0; }
summary { cursor: pointer; color: var(--accent); }
.notice { padding: .5rem .8rem; border-radius: 4px; margin-bottom: 1rem; background: #e6effc; border: 1px solid #b7cdee; }
.notice.bad { background: #f9dedc; border-color: #e9b4b0; }
form.inline { display: inline; margin: 0; }
button.action { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: .25rem .8rem; cursor: pointer; font-weight: 600; }
.login { max-width: 420px; margin: 4rem auto; background: #fff; border: 1px solid var(--line); padding: 1.4rem 1.6rem; border-radius: 6px; }
.login input { width: 100%; padding: .45rem; font: inherit; margin: .3rem 0 1rem; }
tr.fracture td { background: #fff6f5; }
`;

export type Section = 'overview' | 'messages' | 'studies' | 'jobs' | 'queues';

/** The page frame: navigation, a logout button, and the stylesheet (no inline style: the CSP forbids it). */
export function page(title: string, section: Section | null, body: Html): string {
  const link = (s: Section, href: string, label: string) => html`<a href="${href}" class="${section === s ? 'current' : ''}">${label}</a>`;
  const nav =
    section === null
      ? html``
      : html`<nav>${link('overview', '/console', 'Overview')}${link('messages', '/console/messages', 'HL7 messages')}${link('studies', '/console/studies', 'Studies')}${link('jobs', '/console/jobs', 'Failed jobs')}${link('queues', '/console/queues/', 'Queues')}</nav>
<form method="post" action="/console/logout"><button type="submit">Log out</button></form>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${title} · vcf-sentinel console</title>
<link rel="stylesheet" href="/console/console.css"></head>
<body><header><span class="brand">vcf-sentinel console</span>${nav}</header>
<main><h1>${title}</h1>${body}</main></body></html>`.value;
}

export function loginPage(error: string | null): string {
  return page(
    'Sign in',
    null,
    html`<div class="login">
${error ? html`<div class="notice bad" role="alert">${error}</div>` : ''}
<form method="post" action="/console/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button class="action" type="submit">Sign in</button>
</form>
<p class="muted">The service's <code>API_TOKEN</code>. The session lasts 8 hours and ends when the token changes.</p>
</div>`,
  );
}

export function disabledPage(): string {
  return page(
    'Console disabled',
    null,
    html`<div class="notice bad" role="alert">The console shows patient data, so it needs <code>API_TOKEN</code>. Set <code>API_TOKEN</code> and restart the service to turn it on.</div>`,
  );
}

export function errorPage(status: number, message: string): string {
  return page(`Error ${status}`, null, html`<div class="notice bad" role="alert">${message}</div><p><a href="/console">Back to the console</a></p>`);
}

const iso = (t: string | number | null | undefined) => (t === null || t === undefined ? '' : new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
const ackBadge = (ack: string) => html`<span class="badge ${ack === 'AA' ? 'ok' : 'bad'}">${ack}</span>`;
const STATUS_CLASS: Record<string, string> = { done: 'ok', 'awaiting-report': 'ok', failed: 'bad', queued: 'warn', retrieving: 'warn', analysing: 'warn' };
const RESULTS_CLASS: Record<string, string> = { sent: 'ok', skipped: '', failed: 'bad' };
const statusBadge = (status: string) => html`<span class="badge ${STATUS_CLASS[status] ?? ''}">${status}</span>`;
const sender = (r: Hl7MessageRecord) => `${r.sender.application}^${r.sender.facility}`;
const messageHref = (r: Pick<Hl7MessageRecord, 'controlId' | 'sender'>) =>
  `/console/messages/${encodeURIComponent(r.controlId)}?sender=${encodeURIComponent(`${r.sender.application}^${r.sender.facility}`)}`;
export const studyHref = (tag: string) => `/console/studies/${tag}`;

export interface QueueDepth {
  queue: string;
  counts: Record<string, number>;
}

const DEPTH_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

function depthTable(depths: QueueDepth[]): Html {
  return html`<table><thead><tr><th>queue</th>${DEPTH_STATES.map((s) => html`<th>${s}</th>`)}</tr></thead><tbody>
${depths.map((d) => html`<tr><td>${d.queue}</td>${DEPTH_STATES.map((s) => html`<td class="num">${d.counts[s] ?? 0}</td>`)}</tr>`)}
</tbody></table>`;
}

export function overviewPage(depths: QueueDepth[], counts: { messages: number; studies: number }): string {
  return page(
    'Overview',
    'overview',
    html`<h2>Queue depths</h2>${depthTable(depths)}
<p class="muted">Per-job detail and retries of report and correlate jobs: <a href="/console/queues/">Queues</a>. Study jobs are replayed from their study page or <a href="/console/jobs">Failed jobs</a>.</p>
<h2>Recent activity</h2>
<ul><li><a href="/console/messages">${counts.messages} HL7 messages</a> in the message log (latest shown)</li>
<li><a href="/console/studies">${counts.studies} studies</a> in the recent-studies index</li></ul>`,
  );
}

export function messagesPage(rows: Array<{ latest: Hl7MessageRecord; receptions: number }>): string {
  const body =
    rows.length === 0
      ? html`<p class="muted">No HL7 message in the log yet.</p>`
      : html`<table><thead><tr><th>received</th><th>sender</th><th>MSH-10</th><th>type</th><th>transport</th><th>ACK sent</th><th>error</th><th>report it became</th><th>receptions</th></tr></thead><tbody>
${rows.map(
  ({ latest: r, receptions }) => html`<tr><td class="mono">${iso(r.receivedAt)}</td><td>${sender(r)}</td><td class="mono"><a href="${messageHref(r)}">${r.controlId}</a></td>
<td>${r.messageType ?? '?'}</td><td>${r.transport}</td><td>${ackBadge(r.ack)}${r.duplicate ? html` <span class="badge">duplicate</span>` : ''}</td>
<td>${r.error ? html`<code>${r.error.code}</code> ${r.error.message}` : ''}</td><td>${r.reports.map((rep) => html`<div>accession ${rep.accessionNumber}</div>`)}</td><td class="num">${receptions}</td></tr>`,
)}</tbody></table>`;
  return page('HL7 messages', 'messages', html`<p class="muted">The latest reception of each MSH-10, newest first (the log keeps <code>HL7_MESSAGE_LOG_MAX</code> control ids).</p>${body}`);
}

/** One report a message became, as the report store holds it now, with the studies it is linked to. */
export interface ReportView {
  accessionNumber: string;
  stored: StoredReport | null;
  studies: Array<{ tag: string | null; status: string; outcome: string | null; evaluatedWithThisReport: boolean }>;
}

export function messagePage(controlId: string, receptions: Hl7MessageRecord[], reports: Map<string, ReportView>): string {
  const reception = (r: Hl7MessageRecord) => html`<h2>${iso(r.receivedAt)} · ${sender(r)}</h2>
<dl><dt>MSH-10</dt><dd class="mono">${r.controlId}</dd><dt>type</dt><dd>${r.messageType ?? '?'} (v${r.version ?? '?'})</dd>
<dt>transport</dt><dd>${r.transport} from ${r.peer ?? 'unknown peer'}</dd><dt>ACK sent</dt><dd>${ackBadge(r.ack)}${r.duplicate ? ' (duplicate: acknowledged again, processed once)' : ''} after ${r.durationMs} ms</dd>
<dt>error</dt><dd>${r.error ? html`<code>${r.error.code}</code> ${r.error.message}${r.error.location ? html` at <code>${r.error.location}</code>` : ''}` : 'none'}</dd>
<dt>trace id</dt><dd class="mono">${r.traceId}</dd>
<dt>report it became</dt><dd>${r.reports.length === 0 ? 'none' : r.reports.map((rep) => reportBlock(reports.get(rep.reportKey), rep.accessionNumber))}</dd></dl>`;
  return page(`HL7 message ${controlId}`, 'messages', html`${receptions.map(reception)}`);
}

function reportBlock(view: ReportView | undefined, accessionNumber: string): Html {
  if (!view?.stored) return html`<div>accession ${accessionNumber}: <span class="muted">not stored (yet, or expired)</span></div>`;
  const { stored } = view;
  return html`<div>accession <strong>${accessionNumber}</strong>: status ${stored.report.resultStatus ?? '?'}, version ${stored.version},
reported levels ${stored.analysis.reportedLevels.join(', ') || 'none'}${stored.analysis.reportedRegions.length ? html`, regions ${stored.analysis.reportedRegions.join(', ')}` : ''}
<ul>${view.studies.map(
    (s) => html`<li>${s.tag ? html`<a href="${studyHref(s.tag)}">study ${s.tag}</a>` : 'a study not in the recent index'} ${statusBadge(s.status)} ${s.evaluatedWithThisReport ? html`correlation ${s.outcome ?? '—'}` : html`<span class="muted">not evaluated with this report</span>`}</li>`,
  )}${view.studies.length === 0 ? html`<li class="muted">no study linked yet</li>` : ''}</ul></div>`;
}

export interface StudyRow {
  tag: string;
  state: StudyState;
}

export function studiesPage(rows: StudyRow[]): string {
  const body =
    rows.length === 0
      ? html`<p class="muted">No study notified yet.</p>`
      : html`<table><thead><tr><th>updated</th><th>study</th><th>status</th><th>source</th><th>series chosen</th><th>fractures</th><th>correlation</th><th>last error</th></tr></thead><tbody>
${rows.map(({ tag, state: s }) => {
  const last = s.errors.at(-1);
  return html`<tr><td class="mono">${iso(s.updatedAt)}</td><td class="mono"><a href="${studyHref(tag)}">${tag}</a></td><td>${statusBadge(s.status)}</td><td>${s.source}</td>
<td>${seriesLabel(s)}</td><td class="num">${s.findings ? s.findings.fractures.length : ''}</td><td>${s.correlation?.outcome ?? ''}</td><td>${last ? html`<code>${last.code}</code>` : ''}</td></tr>`;
})}</tbody></table>`;
  return page('Studies', 'studies', html`<p class="muted">Studies whose state changed last, newest first; each is named by its tag (a hash of its Study Instance UID).</p>${body}`);
}

function seriesLabel(s: StudyState): string {
  const chosen = s.series?.chosen as { seriesNumber?: number; description?: string; frames?: number } | null | undefined;
  if (!chosen) return '';
  return [chosen.seriesNumber !== undefined ? `#${chosen.seriesNumber}` : '', chosen.description ?? '', chosen.frames !== undefined ? `(${chosen.frames} images)` : ''].filter(Boolean).join(' ');
}

const flat = (o: object) =>
  Object.entries(o).filter(([, v]) => v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v)));

export function studyPage(tag: string, s: StudyState, outputs: FindingOutputs[], replay: { pending: boolean; notice: string | null }): string {
  const f = s.findings;
  const corr = s.correlation;
  const body = html`${replay.notice ? html`<div class="notice" role="status">${replay.notice}</div>` : ''}
<div class="cols"><div>
<dl><dt>Study Instance UID</dt><dd class="mono">${s.studyInstanceUid}</dd><dt>status</dt><dd>${statusBadge(s.status)}</dd><dt>source</dt><dd>${s.source}</dd>
<dt>notified</dt><dd>${iso(s.notifiedAt)}</dd><dt>updated</dt><dd>${iso(s.updatedAt)}</dd><dt>attempts</dt><dd>${s.attempts} of ${s.maxAttempts}</dd>
<dt>identifiers from</dt><dd>accession number: ${s.identifiers.accessionNumber ?? 'unknown'}; patient id: ${s.identifiers.patientId ?? 'unknown'}</dd>
<dt>timings</dt><dd>${s.timingsMs ? `retrieve ${s.timingsMs.retrieve} ms, analyse ${s.timingsMs.analyse} ms, total ${s.timingsMs.total} ms` : '—'}</dd>
<dt>replay</dt><dd>${
    replay.pending
      ? html`<span class="muted">its job is still queued, running or waiting for a retry</span>`
      : html`<form class="inline" method="post" action="${studyHref(tag)}/replay"><button class="action" type="submit">Replay study</button></form>`
  }</dd></dl>
<h2>Series chosen and why</h2>
${
  s.series
    ? html`<p>${seriesLabel(s) || 'series'} <span class="mono muted">${s.series.chosen?.seriesInstanceUid ?? ''}</span></p>
<ul>${s.series.reasons.map((r) => html`<li>${r}</li>`)}</ul>
<details><summary>All attributes of the chosen series</summary><dl>${flat(s.series.chosen ?? {}).map(([k, v]) => html`<dt>${k}</dt><dd class="mono">${Array.isArray(v) ? v.join('\\') : String(v)}</dd>`)}</dl></details>
${s.series.rejected.length ? html`<table><thead><tr><th>rejected series</th><th>why</th></tr></thead><tbody>${s.series.rejected.map((r) => html`<tr><td>${r.seriesNumber !== undefined ? `#${r.seriesNumber} ` : ''}${r.description ?? ''} <span class="mono muted">${r.seriesInstanceUid}</span></td><td>${r.reason}</td></tr>`)}</tbody></table>` : ''}`
    : html`<p class="muted">No series chosen yet.</p>`
}
<h2>Report correlation</h2>
${
  corr
    ? html`<dl><dt>outcome</dt><dd>${corr.outcome}</dd><dt>joined by</dt><dd>${corr.joinedBy ?? '—'}</dd>
<dt>report</dt><dd>${corr.report ? `version ${corr.report.version}, status ${corr.report.resultStatus ?? '?'}, ${corr.report.language}` : '—'}</dd>
<dt>waits until</dt><dd>${iso(corr.waitUntil) || '—'}</dd><dt>evaluated</dt><dd>${iso(corr.evaluatedAt) || '—'}</dd></dl>
${corr.fractures.length ? html`<table><thead><tr><th>level</th><th>grade</th><th>reported</th><th>why</th></tr></thead><tbody>${corr.fractures.map((d) => html`<tr><td>${d.levelText}</td><td class="num">${d.grade}</td><td>${d.reported ? 'yes' : html`<span class="badge bad">not reported</span>`}${d.retracted ? ' (earlier outputs retracted)' : ''}</td><td>${d.explanation}</td></tr>`)}</tbody></table>` : ''}`
    : html`<p class="muted">Not correlated yet.</p>`
}
</div><div>
<h2>Key image</h2>
${f ? html`<img class="keyimage" src="${studyHref(tag)}/key-image.png" alt="Key image: sagittal reformat with labelled vertebrae">` : html`<p class="muted">Not analysed yet.</p>`}
</div></div>
<h2>Findings</h2>
${
  f
    ? html`<p>Model ${f.model ? `${f.model.name} ${f.model.version}` : 'none'}; ${f.vertebrae.length} vertebrae, ${f.fractures.length} graded 1 or more.</p>
<table><thead><tr><th>level</th><th>grade</th><th>morphology</th><th>height loss</th><th>heights A/M/P (mm)</th><th>confidence</th><th>flags</th><th>notes</th></tr></thead><tbody>
${f.vertebrae.map(
  (v) => html`<tr class="${v.grade >= 1 ? 'fracture' : ''}"><td>${v.level}</td><td class="num">${v.grade}</td><td>${v.morphology ?? ''}</td><td class="num">${v.heightLossPercent}%</td>
<td class="num">${v.heightsMm.anterior.toFixed(1)} / ${v.heightsMm.middle.toFixed(1)} / ${v.heightsMm.posterior.toFixed(1)}</td><td class="num">${v.confidence.toFixed(2)}</td><td>${v.flags.join(', ')}</td><td>${v.gradingNotes.join('; ')}</td></tr>`,
)}</tbody></table>`
    : html`<p class="muted">No findings yet.</p>`
}
<h2>Outputs written</h2>
${
  outputs.length
    ? html`<table><thead><tr><th>level</th><th>state</th><th>Observation</th><th>DetectedIssue</th><th>ServiceRequest</th><th>Task</th></tr></thead><tbody>
${outputs.map(
  (o) => html`<tr><td>${o.decision.levelText}</td><td>${o.active ? html`<span class="badge ok">active</span>` : html`<span class="badge">retracted</span>`}</td><td class="mono">${o.ids.observation}</td><td class="mono">${o.ids.detectedIssue}</td>
<td class="mono">${Object.entries(o.ids.serviceRequests).map(([k, id]) => html`<div>${k}: ${id}</div>`)}</td><td class="mono">${Object.entries(o.ids.tasks).map(([k, id]) => html`<div>${k}: ${id}</div>`)}</td></tr>`,
)}</tbody></table>`
    : html`<p class="muted">No FHIR output written for this study.</p>`
}
<h2>Results sent back to the PACS</h2>
${
  s.resultsToPacs
    ? html`<dl><dt>status</dt><dd><span class="badge ${RESULTS_CLASS[s.resultsToPacs.status] ?? 'warn'}">${s.resultsToPacs.status}</span></dd><dt>what</dt><dd>${s.resultsToPacs.kinds.map((k) => (k === 'sc' ? 'key image (Secondary Capture)' : 'findings (Structured Report)')).join(', ')}</dd>
<dt>at</dt><dd>${iso(s.resultsToPacs.at)} (attempt ${s.resultsToPacs.attempt})</dd><dt>series written</dt><dd class="mono">${s.resultsToPacs.seriesInstanceUids.join(', ') || '—'}</dd>
${s.resultsToPacs.error ? html`<dt>error</dt><dd><code>${s.resultsToPacs.error.code}</code> ${s.resultsToPacs.error.message}</dd>` : ''}</dl>`
    : html`<p class="muted">Nothing sent (RESULTS_TO_PACS off, or not analysed yet).</p>`
}
<h2>Errors</h2>
${
  s.errors.length
    ? html`<table><thead><tr><th>at</th><th>attempt</th><th>code</th><th>message</th><th>retryable</th></tr></thead><tbody>${s.errors.map((e) => html`<tr><td class="mono">${iso(e.at)}</td><td class="num">${e.attempt}</td><td><code>${e.code}</code></td><td>${e.message}</td><td>${e.retryable ? 'yes' : 'no'}</td></tr>`)}</tbody></table>`
    : html`<p class="muted">None.</p>`
}`;
  return page(`Study ${tag}`, 'studies', body);
}

/** A failed BullMQ job as the jobs page shows it; a study job carries its study's tag for the replay form. */
export interface FailedJobRow {
  queue: string;
  /** Shown for report and correlate jobs (hashes); study job ids carry the UID and are shown by tag instead. */
  jobId: string | null;
  studyTag: string | null;
  failedReason: string;
  attemptsMade: number;
  finishedOn: number | null;
}

export function jobsPage(depths: QueueDepth[], failed: FailedJobRow[]): string {
  const body = html`<h2>Queue depths</h2>${depthTable(depths)}
<h2>Failed jobs</h2>
${
  failed.length === 0
    ? html`<p class="muted">No failed job.</p>`
    : html`<table><thead><tr><th>failed</th><th>queue</th><th>job</th><th>attempts</th><th>reason</th><th></th></tr></thead><tbody>
${failed.map(
  (j) => html`<tr><td class="mono">${iso(j.finishedOn)}</td><td>${j.queue}</td><td class="mono">${j.studyTag ? html`<a href="${studyHref(j.studyTag)}">study ${j.studyTag}</a>` : j.jobId}</td>
<td class="num">${j.attemptsMade}</td><td>${j.failedReason}</td><td>${
    j.studyTag
      ? html`<form class="inline" method="post" action="${studyHref(j.studyTag)}/replay"><button class="action" type="submit">Replay</button></form>`
      : html`<a href="/console/queues/queue/${encodeURIComponent(j.queue)}?status=failed">retry in Queues</a>`
  }</td></tr>`,
)}</tbody></table>`
}`;
  return page('Failed jobs', 'jobs', body);
}
