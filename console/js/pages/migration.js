import { h } from '../dom.js';
export const title = 'migration';
export const projections = [];
export async function mount(container) {
  container.append(h('h1', {}, 'migration'));
  return { refresh: async () => {} };
}
