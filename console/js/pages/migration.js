import { ApiError, command, download, query, saveFile } from '../api.js';
import { badge, clearErrors, errorBox, field, h, keepingInput, showError, status, table, time } from '../dom.js';

export const title = 'Migration';
export const projections = ['migrations', 'topology', 'drift'];

function selectedId() {
  return new URLSearchParams(location.hash.split('?')[1] ?? '').get('id');
}

function select(id) {
  history.replaceState(null, '', id ? `#/migration?id=${encodeURIComponent(id)}` : '#/migration');
}

function preconditionList(preconditions) {
  return h(
    'ol',
    { class: 'preconditions', 'aria-label': 'Preconditions' },
    preconditions.map((p) =>
      h(
        'li',
        {},
        h('span', { class: p.holds ? 'holds' : 'fails' }, p.holds ? '✓ holds' : '✗ fails'),
        ` ${p.rule}: ${p.description}`,
        p.reason ? h('span', { class: 'muted' }, ` (${p.reason})`) : null,
      ),
    ),
  );
}

function planView(plan, runbook) {
  return h(
    'div',
    { class: 'plan' },
    h('h3', {}, 'Preconditions'),
    preconditionList(plan.preconditions ?? []),
    h('h3', {}, 'Steps'),
    table(
      'The steps, in order',
      [
        { label: '#', value: (s) => String(s.step) },
        { label: 'Step', value: (s) => s.title },
        { label: 'Offline window', value: (s) => (s.offlineWindow ? 'yes' : 'no') },
        { label: 'Events it appends', value: (s) => (s.events ?? []).map((e) => e.type).join(', ') },
      ],
      plan.steps ?? [],
    ),
    h('h3', {}, 'Not migrated (manual items)'),
    h('ul', {}, (plan.notMigrated ?? []).map((item) => h('li', {}, `${item.rule}: ${item.description}`))),
    (plan.placeholders ?? []).length
      ? [h('h3', {}, 'Placeholders in the runbook'), h('ul', {}, plan.placeholders.map((p) => h('li', {}, h('code', {}, `<<${p.name}>>`), ` ${p.description}`)))]
      : null,
    runbook
      ? h(
          'div',
          { class: 'row' },
          h('button', { type: 'button', class: 'secondary', onclick: () => saveFile(runbook, `migration-${plan.migrationId}.ps1`) }, 'Download runbook (.ps1)'),
        )
      : null,
    runbook ? h('details', {}, h('summary', {}, 'Runbook'), h('pre', { class: 'runbook', tabindex: 0, 'aria-label': 'Runbook' }, runbook)) : null,
  );
}

/** Later changes a rollback meets (refused), or went past (forced): one row each. */
function conflictTable(caption, conflicts) {
  return table(
    caption,
    [
      { label: 'Position', value: (c) => String(c.position) },
      { label: 'Event', value: (c) => c.type },
      { label: 'Entity', value: (c) => c.entity },
      { label: 'Command', value: (c) => c.command ?? '' },
      { label: 'Actor', value: (c) => c.actor ?? '' },
      { label: 'When', value: (c) => time(c.occurredAt) },
    ],
    conflicts ?? [],
  );
}

/** The rollback: why, by whom, and each compensation as a row, in the order it was applied. */
function rollbackView(migration) {
  const { rollback } = migration;
  const compensations = (migration.steps ?? []).filter((s) => s.compensatedAt).sort((a, b) => b.step - a.step);
  const forcedPast = Array.isArray(rollback.conflicts) ? rollback.conflicts : [];
  return h(
    'div',
    { class: 'rollback' },
    h('h3', {}, 'Rollback'),
    h(
      'p',
      {},
      `Rolled back by ${rollback.by ?? 'unknown'} · reason: ${rollback.reason}`,
      rollback.forced ? ` · forced past ${forcedPast.length} later change${forcedPast.length === 1 ? '' : 's'}` : '',
    ),
    table(
      'Compensations, in the order applied',
      [
        { label: 'Step', value: (s) => `${s.step}. ${s.title}` },
        { label: 'Outcome', value: (s) => badge(s.state === 'compensated' ? 'compensated' : 'not compensated', s.state) },
        { label: 'Command', value: (s) => s.compensation?.command ?? 'none needed' },
        {
          label: 'Events appended or error',
          value: (s) =>
            s.compensation?.error
              ? `${s.compensation.error.code}: ${s.compensation.error.message}`
              : (s.compensation?.events ?? []).map((e) => `${e.type} at position ${e.position}`).join(', ') || 'none',
        },
        { label: 'When', value: (s) => [time(s.compensatedAt), ` by ${s.compensatedBy}`] },
      ],
      compensations,
    ),
    rollback.forced && forcedPast.length ? conflictTable('Later changes the forced rollback went past', forcedPast) : null,
  );
}

export async function mount(container) {
  const list = h('div');
  const planArea = h('div', { 'aria-live': 'polite' });
  const detail = h('div');

  const legacy = h('select', { name: 'legacyPoolFqdn' });
  const target = h('select', { name: 'targetPoolFqdn' });
  const categories = h('input', { name: 'categories', autocomplete: 'off' });
  const planForm = h(
    'form',
    { class: 'inline', 'aria-label': 'Plan a migration', 'data-command': 'MigratePool' },
    field('Legacy Group Chat pool', legacy),
    field('Target Persistent Chat pool', target),
    field('Legacy categories (optional)', categories, 'Comma-separated, e.g. Eng, Eng/Platform: the plan lists names that flattening changes'),
    h('button', { type: 'submit' }, 'Check plan'),
  );
  const planError = h('div');

  container.append(
    h('h1', {}, 'Migration'),
    h('p', { class: 'muted' }, 'Move a legacy Group Chat pool and its well-known SIP URI to a Persistent Chat pool (MigratePool): plan, record, run step by step, roll back.'),
    h('section', { class: 'card', 'aria-labelledby': 'plan-title' }, h('h2', { id: 'plan-title' }, 'Plan a migration'), planForm, planError, planArea),
    detail,
    h('section', { class: 'card', 'aria-labelledby': 'migrations-title' }, h('h2', { id: 'migrations-title' }, 'Migrations'), list),
  );

  async function loadPools() {
    const topology = await query('/api/topology');
    const options = (pools, emptyText) =>
      pools.length ? pools.map((p) => h('option', { value: p.fqdn }, `${p.fqdn} (${p.status})`)) : [h('option', { value: '' }, emptyText)];
    const keepLegacy = legacy.value;
    const keepTarget = target.value;
    legacy.replaceChildren(...options(topology.legacyPools ?? [], 'no legacy pool'));
    target.replaceChildren(...options(topology.persistentChatPools ?? [], 'no Persistent Chat pool'));
    if (keepLegacy) legacy.value = keepLegacy;
    if (keepTarget) target.value = keepTarget;
  }

  function planBody() {
    const body = { legacyPoolFqdn: legacy.value, targetPoolFqdn: target.value };
    const names = categories.value.split(',').map((c) => c.trim()).filter(Boolean);
    if (names.length) body.categories = names;
    return body;
  }

  planForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    planError.replaceChildren();
    clearErrors(planForm);
    planArea.replaceChildren(status('Checking the plan…'));
    try {
      const preview = await command('MigratePool', planBody(), { whatIf: true });
      planArea.replaceChildren(
        h('div', { class: 'success', role: 'status' }, `Every precondition holds. Nothing is recorded yet (what-if).`),
        planView(preview.plan, preview.runbook),
        recordForm(),
      );
    } catch (error) {
      planArea.replaceChildren();
      if (error instanceof ApiError && error.details?.preconditions) {
        planArea.replaceChildren(errorBox(error), h('h3', {}, 'Preconditions'), preconditionList(error.details.preconditions));
      } else showError(error, planForm, planError);
    }
  });

  function recordForm() {
    const reason = h('input', { name: 'reason', autocomplete: 'off', size: 40 });
    const outcome = h('div');
    const form = h(
      'form',
      { class: 'inline', 'aria-label': 'Record the plan', 'data-command': 'MigratePool' },
      field('Reason or change ticket', reason, 'Required: recorded with the plan in the audit trail'),
      h('button', { type: 'submit' }, 'Record plan'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      outcome.replaceChildren();
      clearErrors(form);
      try {
        const planned = await command('MigratePool', { ...planBody(), reason: reason.value });
        select(planned.migrationId);
        // Says what happened, not the status, which moves on: the migration's own card shows that.
        planArea.replaceChildren(h('div', { class: 'success', role: 'status', 'data-recorded': planned.migrationId }, `Plan recorded: migration ${planned.migrationId}. Run its steps below.`));
        await refresh({ minPosition: planned.position });
        detail.querySelector('h2')?.focus();
      } catch (error) {
        showError(error, form, outcome);
      }
    });
    return h('div', { class: 'card' }, h('h3', {}, 'Record this plan'), form, outcome);
  }

  // The outcome of the last run or rollback (a message, an error, the conflict list), kept across
  // re-renders: a live refresh redraws the detail.
  let lastOutcome = null;

  // What the detail shows now: a live refresh that finds the migration unchanged leaves the page alone
  // (an error or conflict list on display stays).
  let rendered = '';

  async function showDetail(minPosition, { live = false } = {}) {
    const id = selectedId();
    if (!id) {
      detail.replaceChildren();
      rendered = '';
      return;
    }
    let migration;
    try {
      migration = await query(`/api/migrations/${encodeURIComponent(id)}`, minPosition ? { minPosition } : {});
    } catch (error) {
      detail.replaceChildren(h('section', { class: 'card' }, errorBox(error)));
      return;
    }
    const shown = JSON.stringify(migration);
    if (live && shown === rendered) return;
    rendered = shown;
    // The note of the plan just recorded stays only while there is nothing else to say of it.
    if (migration.status !== 'Planned') planArea.querySelector(`[data-recorded="${CSS.escape(migration.migrationId)}"]`)?.remove();
    const steps = migration.steps ?? [];
    const done = steps.filter((s) => s.state === 'completed').length;
    const open = ['Planned', 'Running'].includes(migration.status);
    const runOutcome = h('div', { 'aria-live': 'polite' });

    const run = async (stepCount) => {
      lastOutcome = null;
      runOutcome.replaceChildren(status('Running…'));
      try {
        const result = await command('RunMigration', { migrationId: id, ...(stepCount ? { steps: stepCount } : {}) });
        remember('run', h('div', { class: 'success', role: 'status' }, `Ran step${result.steps.length > 1 ? 's' : ''} ${result.steps.join(', ')}: the migration is ${result.status}.`));
        await refresh({ minPosition: result.position });
      } catch (error) {
        remember('run', errorBox(error));
      }
    };

    const reason = h('input', { name: 'reason', autocomplete: 'off', size: 40 });
    const force = h('input', { name: 'force', type: 'checkbox' });
    const rollbackOutcome = h('div', { 'aria-live': 'polite' });
    const rollbackForm = h(
      'form',
      { class: 'inline', 'aria-label': 'Roll back the migration', 'data-command': 'RollbackMigration' },
      field('Rollback reason', reason, 'Required: recorded with each compensation'),
      h('div', { class: 'field check' }, force, h('label', { for: (force.id = 'rollback-force') }, 'Force (roll back what can be despite later changes)')),
      h('button', { type: 'submit', class: 'danger' }, 'Roll back'),
    );
    rollbackForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      rollbackOutcome.replaceChildren();
      lastOutcome = null;
      clearErrors(rollbackForm);
      try {
        const result = await command('RollbackMigration', { migrationId: id, reason: reason.value, force: force.checked });
        remember('rollback', h('div', { class: 'success', role: 'status' }, `Rolled back steps ${result.steps.join(', ')}: the migration is ${result.status}.`));
        await refresh({ minPosition: result.position });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'ROLLBACK_CONFLICT') {
          remember(
            'rollback',
            h('div', {}, errorBox(error), conflictTable('Conflicting later changes', error.details.conflicts)),
          );
        } else showError(error, rollbackForm, rollbackOutcome);
      }
    });
    // Shown now and again after any re-render until the next run or rollback.
    function remember(kind, node) {
      lastOutcome = { id, kind, node };
      (kind === 'run' ? runOutcome : rollbackOutcome).replaceChildren(node);
    }
    if (lastOutcome?.id === id) (lastOutcome.kind === 'run' ? runOutcome : rollbackOutcome).replaceChildren(lastOutcome.node);

    detail.replaceChildren(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'migration-title' },
        h('h2', { id: 'migration-title', tabindex: -1 }, `Migration ${migration.migrationId}`),
        h(
          'p',
          {},
          `${migration.legacyPoolFqdn} → ${migration.targetPoolFqdn}, ${migration.wellKnownSipAddress}. Status `,
          badge(migration.status),
          ` · planned `,
          time(migration.plannedAt),
          ` by ${migration.plannedBy}`,
          migration.reason ? ` · reason: ${migration.reason}` : '',
        ),
        h(
          'div',
          { class: 'row' },
          h('label', { for: 'migration-progress' }, 'Progress'),
          h('progress', { id: 'migration-progress', max: steps.length || 7, value: done }),
          h('span', { role: 'status', id: 'progress-text' }, `${done} of ${steps.length} steps completed`),
        ),
        migration.continuity ? h('p', { class: migration.continuity.holds ? 'success' : 'notice' }, `Continuity (R16): ${migration.continuity.message ?? (migration.continuity.holds ? 'holds' : 'does not hold')}`) : null,
        table(
          'Steps',
          [
            { label: '#', value: (s) => String(s.step) },
            { label: 'Step', value: (s) => s.title },
            { label: 'State', value: (s) => badge(s.state) },
            { label: 'Completed', value: (s) => (s.completedAt ? [time(s.completedAt), ` by ${s.completedBy}`] : '') },
            { label: 'Events', value: (s) => (s.events ?? []).map((e) => e.type).join(', ') },
            { label: 'Compensated', value: (s) => (s.compensatedAt ? [time(s.compensatedAt), ` by ${s.compensatedBy}`] : '') },
            {
              label: 'Seen in the deployment',
              value: (s) => (s.observed ?? []).map((o) => h('div', {}, badge(o.state), ` ${o.entity} ${o.expected}`, o.observedAt ? [' (', time(o.observedAt), ')'] : '')),
            },
          ],
          steps,
        ),
        h(
          'div',
          { class: 'row' },
          h('button', { type: 'button', disabled: !open, 'data-command': 'RunMigration', onclick: () => run(1) }, migration.nextStep ? `Run next step (${migration.nextStep})` : 'Run next step'),
          h('button', { type: 'button', class: 'secondary', disabled: !open, 'data-command': 'RunMigration', onclick: () => run(undefined) }, 'Run all remaining steps'),
          h('button', { type: 'button', class: 'secondary', onclick: () => download(`/api/migrations/${encodeURIComponent(id)}/runbook`, {}, `migration-${id}.ps1`) }, 'Download runbook (.ps1)'),
        ),
        runOutcome,
        migration.rollback ? rollbackView(migration) : null,
        migration.status === 'RolledBack' ? null : [h('h3', { 'data-command': 'RollbackMigration' }, 'Roll back'), rollbackForm],
        rollbackOutcome,
      ),
    );
  }

  async function showList() {
    try {
      const { migrations } = await query('/api/migrations');
      list.replaceChildren(
        table(
          'Migrations of this deployment',
          [
            { label: 'Migration', value: (m) => h('a', { href: `#/migration?id=${m.migrationId}`, onclick: (event) => { event.preventDefault(); select(m.migrationId); void showDetail(); } }, m.migrationId) },
            { label: 'From → to', value: (m) => `${m.legacyPoolFqdn} → ${m.targetPoolFqdn}` },
            { label: 'Status', value: (m) => badge(m.status) },
            { label: 'Planned', value: (m) => [time(m.plannedAt), ` by ${m.plannedBy}`] },
            { label: 'Reason', value: (m) => m.reason ?? '' },
          ],
          migrations,
        ),
      );
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  }

  async function refresh({ minPosition, live = false } = {}) {
    const detailShown = live ? keepingInput(detail, () => showDetail(undefined, { live })) : showDetail(minPosition);
    await Promise.all([loadPools().catch((error) => planError.replaceChildren(errorBox(error))), showList(), detailShown]);
  }

  await refresh();
  return { refresh };
}
