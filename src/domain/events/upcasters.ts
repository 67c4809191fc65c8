import type { JsonValue } from '../../common/json';

type Data = { readonly [key: string]: JsonValue };
type Metadata = Readonly<Record<string, unknown>>;

/** Turns an event's data of version n into version n + 1; the metadata is read only (never changed). */
export type Upcaster = (data: Data, metadata: Metadata) => Data;

/** Per event type, per version n, the upcaster from n to n + 1. */
export type UpcasterChain = { readonly [type: string]: { readonly [fromVersion: number]: Upcaster } };

/**
 * `AccessDenied` 1 → 2: an attempt recorded before repeats were aggregated stands for one attempt,
 * first and last at the moment it was recorded. (Some events written between the aggregation and
 * versioned metadata already carry the fields: they are kept.)
 */
const accessDeniedV1ToV2: Upcaster = (data, metadata) => {
  const at = typeof metadata['occurredAt'] === 'string' ? metadata['occurredAt'] : null;
  const attempts = data['attempts'];
  return {
    ...data,
    attempts: typeof attempts === 'number' && Number.isInteger(attempts) && attempts >= 1 ? attempts : 1,
    firstOccurredAt: typeof data['firstOccurredAt'] === 'string' ? data['firstOccurredAt'] : at,
    lastOccurredAt: typeof data['lastOccurredAt'] === 'string' ? data['lastOccurredAt'] : typeof data['firstOccurredAt'] === 'string' ? data['firstOccurredAt'] : at,
  };
};

export const UPCASTERS: UpcasterChain = {
  AccessDenied: { 1: accessDeniedV1ToV2 },
};
