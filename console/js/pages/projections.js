import { request } from '../api.js';
import { badge, errorBox, h, status, table } from '../dom.js';

export const title = 'Projections';
export const projections = ['topology', 'endpoint_directory', 'audit_trail', 'migrations'];

export async function mount(container) {
  const where = status();
  const body = h('div');
  container.append(h('h1', {}, 'Projections'), h('p', { class: 'muted' }, 'The read models built from the log: where each stands, how far behind the head, and its state.'), where, body);

  async function refresh() {
    try {
      const { projections: rows } = await request('/api/projections');
      where.textContent = `Log head at position ${rows[0]?.headPosition ?? 0}; read at ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}.`;
      body.replaceChildren(
        table(
          'Read models',
          [
            { label: 'Projection', value: (p) => p.name },
            { label: 'State', value: (p) => badge(p.state) },
            { label: 'Checkpoint', value: (p) => String(p.checkpoint) },
            { label: 'Head', value: (p) => String(p.headPosition) },
            { label: 'Lag (events)', value: (p) => String(p.lagEvents) },
            { label: 'Lag (ms)', value: (p) => String(p.lagMs) },
            { label: 'Version · generation', value: (p) => `${p.version} · ${p.generation}` },
            { label: 'Rebuild', value: (p) => (p.rebuild ? `generation ${p.rebuild.generation} at ${p.rebuild.checkpoint}` : '') },
            { label: 'Failed at', value: (p) => (p.failedAt ? `${p.failedAt.position} ${p.failedAt.type}: ${p.failedAt.error}` : '') },
          ],
          rows,
        ),
      );
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
  }
  await refresh();
  return { refresh };
}
