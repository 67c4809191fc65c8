import { h } from '../dom.js';
export const title = 'projections';
export const projections = [];
export async function mount(container) {
  container.append(h('h1', {}, 'projections'));
  return { refresh: async () => {} };
}
