import type { LoggedEvent } from './versions';

/**
 * The type the event catalog is generated from (`npm run events:catalog`): every event the log
 * holds, as a union discriminated by `type`. Nothing at run time uses it.
 */
export type CatalogEvent = LoggedEvent;
