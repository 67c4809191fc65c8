import { ApiError, deployment, download, query, request } from '../api.js';
import { badge, clearErrors, errorBox, field, h, json, showError, status, table, time, uid } from '../dom.js';

export const title = 'Audit trail';
export const projections = ['audit_trail'];

function entityText(entity) {
  return entity ? `${entity.kind}:${entity.id}` : '';
}

/**
 * An audit entry's full record (metadata, data and, for a refusal, the error) in a row of its own
 * under the entry, across the whole table: a JSON document does not fit a column. Answers the button
 * that opens it (for the Metadata column) and the row.
 */
function fullRecord(entry, columnCount) {
  const record = { metadata: entry.metadata, data: entry.data, ...(entry.error ? { error: entry.error } : {}) };
  const id = uid('record');
  const row = h('tr', { class: 'full-record', id, hidden: true }, h('td', { colspan: columnCount }, json(record, `Full record of position ${entry.position}`)));
  const button = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': id }, 'Full record');
  button.addEventListener('click', () => {
    row.hidden = !row.hidden;
    button.setAttribute('aria-expanded', String(!row.hidden));
  });
  return { button, row };
}

function missing(error, what) {
  return error instanceof ApiError && error.status === 404 && error.code === 'NOT_FOUND'
    ? h('p', { class: 'notice', role: 'status' }, `${what} is not available on this server yet (it answered 404).`)
    : errorBox(error);
}

export async function mount(container) {
  const actor = h('input', { name: 'actor', autocomplete: 'off' });
  const entity = h('input', { name: 'entity', autocomplete: 'off', spellcheck: 'false', placeholder: 'endpoint:sip:persistentchat@contoso.com' });
  const commandName = h('input', { name: 'command', autocomplete: 'off', placeholder: 'CreateEndpoint' });
  const outcome = h('select', { name: 'outcome' }, h('option', { value: '' }, 'any'), h('option', { value: 'accepted' }, 'accepted'), h('option', { value: 'refused' }, 'refused'));
  const from = h('input', { name: 'from', type: 'date' });
  const to = h('input', { name: 'to', type: 'date' });
  const filters = h(
    'form',
    { class: 'inline', 'aria-label': 'Audit filters', role: 'search' },
    field('Actor', actor),
    field('Entity', entity, 'kind:id, e.g. legacyPool:gc.contoso.com (sipDomain, principal, legacyPool, persistentChatPool, server, endpoint, migration; pool: either pool)'),
    field('Command', commandName),
    field('Outcome', outcome),
    field('From (UTC day)', from),
    field('To (UTC day)', to),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const listError = h('div');
  const entries = h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': 'Audit entries' });
  const more = h('div', { class: 'row' });

  const historyEntity = h('input', { name: 'entity', autocomplete: 'off', spellcheck: 'false', size: 40 });
  const historyForm = h('form', { class: 'inline', 'aria-label': 'Entity history' }, field('Entity (kind:id)', historyEntity), h('button', { type: 'submit' }, 'Show history'));
  const historyArea = h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': 'Entity history', 'aria-live': 'polite' });

  const reportFrom = h('input', { name: 'from', type: 'date' });
  const reportTo = h('input', { name: 'to', type: 'date' });
  const reportLinks = h('p', { class: 'row' });
  const reportArea = h('div', { 'aria-live': 'polite' });
  const reportForm = h('form', { class: 'inline', 'aria-label': 'Compliance report period' }, field('Report from (UTC day)', reportFrom), field('Report to (UTC day)', reportTo));

  const digestArea = h('div', { 'aria-live': 'polite' });
  const savedDigest = h('input', { name: 'digest', autocomplete: 'off', spellcheck: 'false', size: 50, placeholder: '4182:9f2c…' });
  const verifyForm = h(
    'form',
    { class: 'inline', 'aria-label': 'Verify the log' },
    field('Saved digest (position:hash, optional)', savedDigest),
    h('button', { type: 'submit' }, 'Verify'),
  );

  container.append(
    h('h1', {}, 'Audit trail'),
    h('p', { class: 'muted' }, 'Every accepted change and refused command, with who, when, what, why and from where; newest first.'),
    h(
      'div',
      { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, "An entity's history"), historyForm),
      h('section', { class: 'card', 'aria-labelledby': 'report-title' }, h('h2', { id: 'report-title' }, 'Compliance report'), reportForm, reportLinks, reportArea),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'digest-title' },
        h('h2', { id: 'digest-title' }, 'Log digest'),
        h(
          'p',
          { class: 'muted' },
          'The digest commits to every event up to its position: keep it. Verify checks every event of the log on the server, against the latest signed checkpoint of its witness, and the saved digest if you give one.',
        ),
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: () => void showDigest() }, 'Show the current digest')),
        verifyForm,
        digestArea,
      ),
    ),
    historyArea,
    h('section', { class: 'card', 'aria-labelledby': 'entries-title' }, h('h2', { id: 'entries-title' }, 'Entries'), filters, listError, entries, more),
  );

  function filterValues() {
    return { actor: actor.value.trim(), entity: entity.value.trim(), command: commandName.value.trim(), outcome: outcome.value, from: from.value, to: to.value };
  }

  function entryTable(rows, caption) {
    const records = new Map(rows.map((entry) => [entry, fullRecord(entry, 8)]));
    const built = table(
      caption,
      [
        { label: 'Position', value: (e) => String(e.position) },
        { label: 'When', value: (e) => time(e.occurredAt) },
        { label: 'Actor', value: (e) => `${e.actor}${e.authenticated ? '' : ' (unauthenticated)'}` },
        { label: 'Command', value: (e) => e.command ?? '' },
        { label: 'Outcome', value: (e) => [badge(e.outcome), ' ', e.outcome === 'refused' ? (e.error?.code ?? '') : e.type] },
        {
          label: 'Entity',
          value: (e) =>
            e.entity ? h('button', { type: 'button', class: 'secondary', 'aria-label': `History of ${entityText(e.entity)}`, onclick: () => void showHistory(entityText(e.entity)) }, entityText(e.entity)) : '',
        },
        { label: 'Reason', value: (e) => e.reason ?? '' },
        { label: 'Metadata', value: (e) => records.get(e).button },
      ],
      rows,
    );
    [...built.tBodies[0].rows].forEach((tr, i) => rows[i] && tr.after(records.get(rows[i]).row));
    return built;
  }

  let newest; // the newest entry on display: a live refresh that brings nothing newer leaves the list (and open records) alone

  async function list(cursor, { live = false } = {}) {
    if (!live) {
      clearErrors(filters);
      listError.replaceChildren();
    }
    try {
      const answer = await query('/api/audit', { ...filterValues(), limit: 25, cursor });
      if (live && answer.entries[0]?.position === newest) return;
      if (!cursor) newest = answer.entries[0]?.position;
      const shown = cursor ? entries.querySelectorAll('tbody tr:not(.full-record)').length : 0;
      const next = entryTable(answer.entries, `${shown + answer.entries.length} entries, newest first`);
      if (cursor) {
        entries.querySelector('tbody').append(...next.querySelectorAll('tbody tr'));
        entries.querySelector('caption').textContent = `${shown + answer.entries.length} entries, newest first`;
      } else entries.replaceChildren(next);
      more.replaceChildren(answer.nextCursor ? h('button', { type: 'button', class: 'secondary', onclick: () => void list(answer.nextCursor) }, 'Older entries') : '');
    } catch (error) {
      showError(error, filters, listError);
    }
  }

  async function showHistory(kindAndId) {
    historyEntity.value = kindAndId;
    clearErrors(historyForm);
    historyArea.replaceChildren(status('Loading…'));
    try {
      const answer = await query('/api/audit/history', { entity: kindAndId });
      historyArea.replaceChildren(entryTable(answer.entries, `History of ${answer.entity}, oldest first`));
      historyEntity.focus();
    } catch (error) {
      historyArea.replaceChildren();
      showError(error, historyForm, historyArea);
    }
  }

  function reportQuery(format) {
    // The deployment shown (the header's selector), not the server's default.
    return { format, deployment: deployment(), from: reportFrom.value, to: reportTo.value };
  }

  function renderReportLinks() {
    const link = (format, text) => {
      const params = new URLSearchParams(Object.entries(reportQuery(format)).filter(([, v]) => v));
      const href = `/api/compliance/report?${params}`;
      return h(
        'a',
        {
          href,
          onclick: async (event) => {
            event.preventDefault();
            reportArea.replaceChildren(status('Preparing the report…'));
            try {
              await download('/api/compliance/report', Object.fromEntries(params), `compliance-report.${format}`);
              reportArea.replaceChildren(h('p', { class: 'success', role: 'status' }, `Report downloaded (${format.toUpperCase()}).`));
            } catch (error) {
              reportArea.replaceChildren(missing(error, 'The compliance report'));
            }
          },
        },
        text,
      );
    };
    reportLinks.replaceChildren(link('csv', 'Download the report as CSV'), ' ', link('html', 'Download the report as HTML'));
  }

  async function showDigest() {
    digestArea.replaceChildren(status('Reading the digest…'));
    try {
      const digest = await request('/api/audit/digest');
      digestArea.replaceChildren(
        h('p', {}, 'Current digest: ', h('code', { class: 'mono' }, digest.digest ?? `${digest.position}:${digest.hash}`)),
        json(digest, 'Digest'),
      );
      if (!savedDigest.value && digest.digest) savedDigest.value = digest.digest;
    } catch (error) {
      digestArea.replaceChildren(missing(error, 'The log digest (GET /api/audit/digest)'));
    }
  }

  /** `GET /api/audit/verify`: its progress events, then its verdict (or an error event). */
  async function serverVerification() {
    const response = await request('/api/audit/verify', { raw: true });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(message)?.[1];
        const data = JSON.parse(
          message
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n'),
        );
        if (name === 'progress') digestArea.replaceChildren(status(`Verifying… ${data.events.toLocaleString('en')} events checked`));
        if (name === 'verdict') return data;
        if (name === 'error') throw new ApiError(500, { code: data.code, message: data.message });
      }
    }
    throw new ApiError(500, { code: 'VERIFY_FAILED', message: 'The server ended the verification without a verdict.' });
  }

  function breakText(b) {
    const where = [b.streamId ? `stream ${b.streamId} revision ${b.revision}` : '', b.position !== null ? `position ${b.position}` : '', b.eventType ? `event type ${b.eventType}` : '']
      .filter(Boolean)
      .join(', ');
    return `${b.problem}${where ? ` at ${where}` : ''}: ${b.message}`;
  }

  verifyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(verifyForm);
    const given = savedDigest.value.trim();
    const match = /^(\d+):([0-9a-f]{64})$/i.exec(given);
    if (given && !match) {
      showError({ code: 'INVALID_DIGEST', message: 'A digest is <position>:<64 hex digits>, as the digest display shows it.', details: { field: 'digest' } }, verifyForm, digestArea);
      return;
    }
    digestArea.replaceChildren(status('Verifying…'));
    try {
      const verdict = await serverVerification();
      const shown = [];
      if (verdict.ok) {
        const latest = verdict.checkpoints?.latest;
        shown.push(
          h(
            'p',
            { class: 'success', role: 'status' },
            `Verified ${verdict.events.toLocaleString('en')} events: every link holds` +
              (latest ? `, and the log gives the digest signed at position ${latest.position}${latest.time ? ` (${latest.time})` : ''}.` : '.'),
          ),
        );
        if (!verdict.protected) shown.push(h('p', { class: 'notice', role: 'status' }, 'No signing key is configured: the log is not protected against whoever can write the server\'s data directory.'));
      } else {
        shown.push(h('p', { class: 'error', role: 'alert' }, `Broken: ${breakText(verdict.broken)}`));
        for (const change of verdict.broken.changes ?? []) shown.push(h('p', { class: 'mono' }, `${change.field}: ${JSON.stringify(change.before)} → ${JSON.stringify(change.after)}`));
      }
      if (match) {
        const [, position, hash] = match;
        const digest = await request('/api/audit/digest', { query: { atPosition: position } });
        shown.push(
          digest.hash?.toLowerCase() === hash.toLowerCase()
            ? h('p', { class: 'success', role: 'status' }, `The log up to position ${position} gives the saved digest; nothing up to it changed.`)
            : h('p', { class: 'error', role: 'alert' }, `Mismatch: the log up to position ${position} now gives ${digest.hash}, not the saved ${hash}.`),
        );
      }
      digestArea.replaceChildren(...shown, json(verdict, 'Verification verdict'));
    } catch (error) {
      digestArea.replaceChildren(missing(error, 'The log verification (GET /api/audit/verify)'));
    }
  });

  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void list();
  });
  historyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (historyEntity.value.trim()) void showHistory(historyEntity.value.trim());
  });
  reportForm.addEventListener('input', renderReportLinks);
  renderReportLinks();

  await list();
  // A live refresh re-reads the first page only when it is the one shown.
  return { refresh: async () => (entries.querySelectorAll('tbody tr:not(.full-record)').length > 25 ? undefined : list(undefined, { live: true })) };
}
