import type { JsonValue } from '../event-store/event-store';
import type { ComplianceReport, ReportEntity } from '../../projections/compliance/compliance-report.query';
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
] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null>>;

function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  // Quoted when needed; a leading formula character is neutralised so a spreadsheet shows it as text.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

const json = (value: JsonValue | undefined): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
const entityColumns = (entity: ReportEntity): CsvRow => ({ entity_kind: entity?.kind ?? null, entity_id: entity?.id ?? null });

/** `drift`: the report's drift section (GET /api/drift's items first seen in the period). */
export function reportCsv(report: ComplianceReport, drift: readonly DriftRow[] = []): string {
  const rows: CsvRow[] = [];
  for (const c of report.changes) {
    rows.push({
      section: 'change',
      position: c.position,
      occurred_at: c.occurredAt,
      actor: c.actor,
      roles: c.roles?.join(' ') ?? null,
      command: c.command,
      ...entityColumns(c.entity),
      event_type: c.eventType,
      before: json(c.before),
      after: json(c.after),
      reason: c.reason,
      migration_id: c.migrationId,
    });
  }
  for (const [section, list] of [['refused', report.refused], ['denied', report.denied]] as const) {
    for (const r of list) {
      rows.push({
        section,
        position: r.position,
        occurred_at: r.occurredAt,
        actor: r.actor,
        roles: r.roles?.join(' ') ?? null,
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
      rows.push({ section: 'migration', position: e.position, occurred_at: e.occurredAt, actor: e.actor, command: e.command, event_type: e.eventType, after: json(e.data), reason: e.reason, migration_id: m.migrationId });
    }
  }
  rows.push(...drift.map(driftCsvRow));
  if (report.digest) rows.push({ section: 'digest', position: report.digest.position, event_type: report.digest.algorithm, after: report.digest.hash });
  const lines = [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((c) => csvCell(row[c])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

function escapeHtml(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const entityText = (entity: ReportEntity): string => (entity === null ? '' : `${entity.kind ?? ''} ${entity.id}`.trim());
const code = (value: JsonValue | undefined): string => (value === undefined || value === null ? '—' : `<code>${escapeHtml(JSON.stringify(value))}</code>`);

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
    ['position', 'time', 'actor', 'roles', 'command', 'entity', 'event', 'before', 'after', 'reason / ticket', 'migration'],
    report.changes.map((c) => [
      String(c.position),
      escapeHtml(c.occurredAt),
      escapeHtml(c.actor),
      escapeHtml(c.roles?.join(', ')),
      escapeHtml(c.command),
      escapeHtml(entityText(c.entity)),
      escapeHtml(c.eventType),
      code(c.before),
      code(c.after),
      escapeHtml(c.reason),
      escapeHtml(c.migrationId),
    ]),
    'No changes in this period.',
  );
  const refusals = (list: ComplianceReport['refused'], empty: string): string =>
    table(
      ['position', 'time', 'actor', 'roles', 'command', 'entity', 'status', 'code', 'message', 'reason'],
      list.map((r) => [String(r.position), escapeHtml(r.occurredAt), escapeHtml(r.actor), escapeHtml(r.roles?.join(', ')), escapeHtml(r.command), escapeHtml(entityText(r.entity)), escapeHtml(r.status), escapeHtml(r.errorCode), escapeHtml(r.message), escapeHtml(r.reason)]),
      empty,
    );
  const migrations =
    report.migrations.length === 0
      ? '<p class="empty">No migrations in this period.</p>'
      : report.migrations
          .map(
            (m) =>
              `<h3>Migration ${escapeHtml(m.migrationId)}</h3>${table(
                ['position', 'time', 'event', 'step', 'actor', 'reason', 'data'],
                m.events.map((e) => [String(e.position), escapeHtml(e.occurredAt), escapeHtml(e.eventType), code(e.step), escapeHtml(e.actor), escapeHtml(e.reason), code(e.data)]),
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
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Compliance report ${escapeHtml(report.deployment)} ${escapeHtml(report.from)} – ${escapeHtml(report.to)}</title>
<style>${PRINT_CSS}</style></head>
<body>
<h1>Compliance report: deployment ${escapeHtml(report.deployment)}</h1>
<table class="meta"><tr><td>from</td><td>${escapeHtml(report.from)}</td></tr><tr><td>to</td><td>${escapeHtml(report.to)}</td></tr>
<tr><td>totals</td><td>${s.changes} changes, ${s.refused} refused commands, ${s.denied} denied attempts, ${s.migrationEvents} migration events</td></tr></table>
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
