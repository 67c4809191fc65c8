import * as crypto from 'node:crypto';
import type { JsonValue } from '../event-store/event-store';
import type { ComplianceReport, ReportAssurance, ReportEntity } from '../../projections/compliance/compliance-report.query';
import type { DriftRow } from '../../projections/drift/drift.query';

/** The compliance report as CSV (one row per entry, RFC 4180) and as a printable HTML page. */

export const REPORT_FORMATS = ['json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const CSV_COLUMNS = [
  'section',
  'position',
  'occurred_at',
  'actor',
  'roles',
  'command',
  'entity_kind',
  'entity_id',
  'event_type',
  'before',
  'after',
  'reason',
  'migration_id',
  'status',
  'error_code',
  'message',
  'authenticated',
  'client_address',
  'correlation_id',
  'command_id',
  'migration_step',
  'changes',
] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null>>;

/**
 * What a spreadsheet may take for the start of a formula: `= + - @`, a tab or a carriage return,
 * their full-width forms (which some spreadsheets fold to them), after any run of spaces or line
 * breaks (which they skip).
 */
const FORMULA_START = /^[\s\u00a0\u3000]*[=+\-@\t\r\n\uff1d\uff0b\uff0d\uff20]/;

export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  // Quoted when needed; a leading formula character is neutralised so a spreadsheet shows it as text.
  const safe = typeof value === 'string' && FORMULA_START.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

const json = (value: JsonValue | undefined): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/** One field that a change set, altered or cleared: `field`, its value before (undefined: absent) and after. */
export interface FieldDiff {
  readonly field: string;
  readonly before: JsonValue | undefined;
  readonly after: JsonValue | undefined;
}

const isRecord = (v: unknown): v is Record<string, JsonValue> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `before` → `after` as the fields that differ (nested objects by dotted path; lists compared whole). */
export function fieldDiffs(before: JsonValue | undefined, after: JsonValue | undefined): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const walk = (prefix: string, b: JsonValue | undefined, a: JsonValue | undefined): void => {
    if (isRecord(b) || isRecord(a)) {
      const bo = isRecord(b) ? b : {};
      const ao = isRecord(a) ? a : {};
      for (const key of [...new Set([...Object.keys(bo), ...Object.keys(ao)])].sort()) walk(prefix ? `${prefix}.${key}` : key, bo[key], ao[key]);
      return;
    }
    if (JSON.stringify(b) !== JSON.stringify(a)) diffs.push({ field: prefix, before: b, after: a });
  };
  walk('', before ?? undefined, after ?? undefined);
  return diffs;
}

const valueText = (v: JsonValue | undefined): string => (v === undefined || v === null ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The field changes as text: `field: before → after`, one per line. */
export function changesText(before: JsonValue | undefined, after: JsonValue | undefined): string {
  return fieldDiffs(before, after)
    .map((d) => (d.before === undefined ? `${d.field}: ${valueText(d.after)}` : d.after === undefined ? `${d.field}: ${valueText(d.before)} → (removed)` : `${d.field}: ${valueText(d.before)} → ${valueText(d.after)}`))
    .join('\n');
}

/** The product's own reason policy, in words (the domain refuses these without a reason). */
export const PRODUCT_REASON_POLICY =
  'always required by the product: removals, deletions and decommissions (RemoveSipDomain, DeleteSipPrincipal, DecommissionLegacyPool, RemovePersistentChatPool, RemovePersistentChatServer, RemoveEndpoint) the migration commands that change, fail or undo a topology (MigratePool, FailMigrationStep, RollbackMigration) and the adoption of observed state (AdoptObservedState)';

const policyText = (a: ReportAssurance): string =>
  `${a.reasonPolicy.always}; configured (REASON_REQUIRED_FOR): ${a.reasonPolicy.configured.length > 0 ? a.reasonPolicy.configured.join(', ') : 'none'}`;
const keyText = (a: ReportAssurance): string =>
  a.signingKey ?? 'none: no AUDIT_KEY_FILE, so the log is not protected against whoever can write DATA_DIR';
const entityColumns = (entity: ReportEntity): CsvRow => ({ entity_kind: entity?.kind ?? null, entity_id: entity?.id ?? null });

/** Who acted, as every row of the report carries it: changes, refusals, denials and migration events. */
type Caller = Pick<ComplianceReport['changes'][number], 'actor' | 'roles' | 'authenticated' | 'clientAddress'>;
const callerColumns = (c: Caller): CsvRow => ({
  actor: c.actor,
  roles: c.roles?.join(' ') ?? null,
  authenticated: c.authenticated === null ? null : String(c.authenticated),
  client_address: c.clientAddress,
});
const CALLER_HEADERS = ['actor', 'roles', 'authenticated', 'client address'] as const;
const callerCells = (c: Caller): string[] => [
  escapeHtml(c.actor),
  escapeHtml(c.roles?.join(', ')),
  escapeHtml(c.authenticated === null ? '' : c.authenticated ? 'yes' : 'no'),
  escapeHtml(c.clientAddress),
];

/** `drift`: the report's drift section (GET /api/drift's items first seen in the period). */
export function reportCsv(report: ComplianceReport, drift: readonly DriftRow[] = []): string {
  const rows: CsvRow[] = [];
  for (const c of report.changes) {
    rows.push({
      section: 'change',
      position: c.position,
      occurred_at: c.occurredAt,
      ...callerColumns(c),
      command: c.command,
      ...entityColumns(c.entity),
      event_type: c.eventType,
      before: json(c.before),
      after: json(c.after),
      reason: c.reason,
      migration_id: c.migrationId,
      correlation_id: c.correlationId,
      command_id: c.commandId,
      migration_step: json(c.migrationStep),
      changes: changesText(c.before, c.after),
    });
  }
  for (const [section, list] of [['refused', report.refused], ['denied', report.denied]] as const) {
    for (const r of list) {
      rows.push({
        section,
        position: r.position,
        occurred_at: r.occurredAt,
        ...callerColumns(r),
        command: r.command,
        ...entityColumns(r.entity),
        reason: r.reason,
        status: r.status,
        error_code: r.errorCode,
        message: r.message,
      });
    }
  }
  for (const m of report.migrations) {
    for (const e of m.events) {
      rows.push({
        section: 'migration',
        position: e.position,
        occurred_at: e.occurredAt,
        ...callerColumns(e),
        command: e.command,
        event_type: e.eventType,
        after: json(e.data),
        reason: e.reason,
        migration_id: m.migrationId,
        migration_step: json(e.step),
      });
    }
  }
  rows.push(...drift.map(driftCsvRow));
  if (report.digest) rows.push({ section: 'digest', position: report.digest.position, event_type: report.digest.algorithm, after: report.digest.hash });
  const a = report.assurance;
  if (a) {
    rows.push({ section: 'reason_policy', message: policyText(a) });
    rows.push({ section: 'signing_key', message: keyText(a), status: a.auditLog });
    if (a.latestCheckpoint) {
      rows.push({
        section: 'checkpoint',
        position: a.latestCheckpoint.position,
        occurred_at: a.latestCheckpoint.time,
        after: a.latestCheckpoint.digest,
        message: a.coversReport ? 'the latest signed checkpoint; it covers every entry of this report' : 'the latest signed checkpoint; entries after its position are not yet signed',
      });
    } else rows.push({ section: 'checkpoint', message: 'no signed checkpoint' });
  }
  const lines = [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((c) => csvCell(row[c])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

function escapeHtml(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const entityText = (entity: ReportEntity): string => (entity === null ? '' : `${entity.kind ?? ''} ${entity.id}`.trim());
const code = (value: JsonValue | undefined): string => (value === undefined || value === null ? '—' : `<code>${escapeHtml(JSON.stringify(value))}</code>`);

/** `before` → `after` as a list of the fields that changed. */
function changesHtml(before: JsonValue | undefined, after: JsonValue | undefined): string {
  const diffs = fieldDiffs(before, after);
  if (diffs.length === 0) return '—';
  const cell = (v: JsonValue | undefined): string => (v === undefined ? '<span class="none">—</span>' : `<span class="v">${escapeHtml(valueText(v))}</span>`);
  return `<ul class="changes">${diffs.map((d) => `<li><b>${escapeHtml(d.field)}</b>: ${cell(d.before)} → ${d.after === undefined && d.before !== undefined ? '<i>removed</i>' : cell(d.after)}</li>`).join('')}</ul>`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${escapeHtml(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((cell) => `<td>${cell}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const PRINT_CSS = `
body { font: 11pt/1.35 system-ui, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 16pt; margin: 0 0 .3em; } h2 { font-size: 13pt; margin: 1.4em 0 .4em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: left; vertical-align: top; }
th { background: #eee; } code { font-size: 8pt; word-break: break-all; white-space: pre-wrap; }
.meta td { border: none; padding: 0 1em 0 0; } .empty { color: #555; font-style: italic; }
ul.changes { margin: 0; padding-left: 1em; } ul.changes li { margin: 0; } .v { font-family: ui-monospace, monospace; font-size: 8pt; word-break: break-all; } .none { color: #777; }
.warn { color: #8a1f11; font-weight: 600; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; }
  thead { display: table-header-group; }
  tr, .digest { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}`;

export function reportHtml(report: ComplianceReport, drift: readonly DriftRow[] = []): string {
  const s = report.summary;
  const changes = table(
    ['position', 'time', ...CALLER_HEADERS, 'command', 'entity', 'event', 'changes (before → after)', 'reason / ticket', 'migration (step)', 'correlation id', 'command id'],
    report.changes.map((c) => [
      String(c.position),
      escapeHtml(c.occurredAt),
      ...callerCells(c),
      escapeHtml(c.command),
      escapeHtml(entityText(c.entity)),
      escapeHtml(c.eventType),
      changesHtml(c.before, c.after),
      escapeHtml(c.reason),
      c.migrationId === null ? '' : `${escapeHtml(c.migrationId)}${c.migrationStep === null || c.migrationStep === undefined ? '' : ` (${escapeHtml(valueText(c.migrationStep))})`}`,
      escapeHtml(c.correlationId),
      escapeHtml(c.commandId),
    ]),
    'No changes in this period.',
  );
  const refusals = (list: ComplianceReport['refused'], empty: string): string =>
    table(
      ['position', 'time', ...CALLER_HEADERS, 'command', 'entity', 'status', 'code', 'message', 'reason'],
      list.map((r) => [
        String(r.position),
        escapeHtml(r.occurredAt),
        ...callerCells(r),
        escapeHtml(r.command),
        escapeHtml(entityText(r.entity)),
        escapeHtml(r.status),
        escapeHtml(r.errorCode),
        escapeHtml(r.message),
        escapeHtml(r.reason),
      ]),
      empty,
    );
  const migrations =
    report.migrations.length === 0
      ? '<p class="empty">No migrations in this period.</p>'
      : report.migrations
          .map(
            (m) =>
              `<h3>Migration ${escapeHtml(m.migrationId)}</h3>${table(
                ['position', 'time', 'event', 'step', ...CALLER_HEADERS, 'reason', 'data'],
                m.events.map((e) => [
                  String(e.position),
                  escapeHtml(e.occurredAt),
                  escapeHtml(e.eventType),
                  code(e.step),
                  ...callerCells(e),
                  escapeHtml(e.reason),
                  code(e.data),
                ]),
                '',
              )}`,
          )
          .join('');
  const actors = table(
    ['actor', 'changes', 'migration events', 'refused', 'denied'],
    s.actors.map((a) => [escapeHtml(a.actor), String(a.changes), String(a.migrationEvents), String(a.refused), String(a.denied)]),
    'Nobody acted in this period.',
  );
  const entities = table(
    ['entity', 'changes', 'migration events', 'refused', 'denied'],
    s.entities.map((e) => [escapeHtml(entityText(e)), String(e.changes), String(e.migrationEvents), String(e.refused), String(e.denied)]),
    'No entity was touched in this period.',
  );
  const digest = report.digest
    ? `<table class="meta digest"><tr><td>algorithm</td><td>${escapeHtml(report.digest.algorithm)}</td></tr><tr><td>position</td><td>${report.digest.position}</td></tr><tr><td>events</td><td>${report.digest.events}</td></tr><tr><td>hash</td><td><code>${escapeHtml(report.digest.hash)}</code></td></tr></table>
<p>Check it later with <code>topo audit verify --digest ${report.digest.position}:${escapeHtml(report.digest.hash)}</code>.</p>`
    : '<p class="empty">The period has no entries: no digest.</p>';
  const a = report.assurance;
  const assurance = a
    ? `<table class="meta"><tr><td>reason policy</td><td>${escapeHtml(policyText(a))}</td></tr>
<tr><td>signing key</td><td>${a.signingKey ? `<code>${escapeHtml(a.signingKey)}</code>` : `<span class="warn">${escapeHtml(keyText(a))}</span>`}</td></tr>
<tr><td>audit log</td><td>${a.auditLog === 'broken' ? `<span class="warn">broken</span>` : escapeHtml(a.auditLog)}</td></tr>
<tr><td>latest signed checkpoint</td><td>${
        a.latestCheckpoint
          ? `position ${a.latestCheckpoint.position}, signed ${escapeHtml(a.latestCheckpoint.time)}, digest <code>${escapeHtml(a.latestCheckpoint.digest)}</code>${a.coversReport ? ' (covers every entry of this report)' : ' <span class="warn">(entries after its position are not yet signed)</span>'}`
          : 'none'
      }</td></tr></table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Compliance report ${escapeHtml(report.deployment)} ${escapeHtml(report.from)} – ${escapeHtml(report.to)}</title>
<style>${PRINT_CSS}</style></head>
<body>
<h1>Compliance report: deployment ${escapeHtml(report.deployment)}</h1>
<table class="meta"><tr><td>from</td><td>${escapeHtml(report.from)}</td></tr><tr><td>to</td><td>${escapeHtml(report.to)}</td></tr>
<tr><td>totals</td><td>${s.changes} changes, ${s.refused} refused commands, ${s.denied} denied attempts, ${s.migrationEvents} migration events</td></tr></table>
${assurance}
<h2>Changes</h2>${changes}
<h2>Refused commands</h2>${refusals(report.refused, 'No refused commands in this period.')}
<h2>Denied attempts</h2>${refusals(report.denied, 'No denied attempts in this period.')}
<h2>Migrations and rollbacks</h2>${migrations}
<h2>Drift: changes made outside the ledger</h2>${driftHtml(drift)}
<h2>Summary per actor</h2>${actors}
<h2>Summary per entity</h2>${entities}
<h2>Digest of the log at the period's end</h2>${digest}
</body></html>
`;
}

/**
 * The Content-Security-Policy of the HTML report: its own inline style sheet (by its hash) and
 * nothing else, so that it is styled when opened from the API and can load or run nothing.
 */
export const REPORT_HTML_POLICY = `default-src 'none'; style-src 'sha256-${crypto.createHash('sha256').update(PRINT_CSS).digest('base64')}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

// ---------------------------------------------------------------------------------------------
// The drift section: what observations of the real deployment found different from the ledger.

const driftEntity = (entity: string): ReportEntity => {
  const colon = entity.indexOf(':');
  return colon > 0 ? { kind: entity.slice(0, colon), id: entity.slice(colon + 1) } : { kind: null, id: entity };
};

const resolutionText = (d: DriftRow): string | null => (d.status === 'open' ? 'open' : `${d.resolution ?? 'resolved'}${d.resolvedAt ? ` at ${d.resolvedAt}` : ''}${d.resolvedBy ? ` by ${d.resolvedBy}` : ''}`);

/** One CSV row per drift item: the observed side in `after`, the ledger's in `before`, how it ended in `status`. */
function driftCsvRow(d: DriftRow): CsvRow {
  return {
    section: 'drift',
    occurred_at: d.firstSeenAt,
    actor: d.firstSeenBy,
    ...entityColumns(driftEntity(d.entity)),
    event_type: d.kind,
    before: json(d.ledger as JsonValue),
    after: json(d.observed as JsonValue),
    status: resolutionText(d),
    message: d.fields ? `fields: ${d.fields.join(', ')}` : null,
  };
}

function driftHtml(drift: readonly DriftRow[]): string {
  return table(
    ['first seen', 'observed by', 'entity', 'drift', 'ledger', 'observed', 'observation', 'resolution'],
    drift.map((d) => [
      escapeHtml(d.firstSeenAt),
      escapeHtml(d.firstSeenBy),
      escapeHtml(d.entity),
      escapeHtml(d.kind + (d.fields ? ` (${d.fields.join(', ')})` : '')),
      code(d.ledger as JsonValue),
      code(d.observed as JsonValue),
      escapeHtml(d.detectedBy),
      escapeHtml(resolutionText(d)),
    ]),
    'No drift was first seen in this period.',
  );
}
