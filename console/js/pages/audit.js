import { h } from '../dom.js';
export const title = 'audit';
export const projections = [];
export async function mount(container) {
  container.append(h('h1', {}, 'audit'));
  return { refresh: async () => {} };
}
