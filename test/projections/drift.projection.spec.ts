import type { JsonObject } from '../../src/event-store/event-store';
import { driftProjection } from '../../projections/drift/drift.projection';
import { listDrift } from '../../projections/drift/drift.query';
import { projectEvents, recorded } from '../../projections/runner/testing';

const by = (actor: string, occurredAt: string) => ({ metadata: { actor, occurredAt, deployment: 'contoso' } });
const endpoint = 'endpoint:sip:outside@contoso.com';
const detected = (observationId: string, observed: JsonObject): JsonObject => ({
  observationId,
  entity: endpoint,
  kind: 'missing_in_ledger',
  ledger: null,
  observed,
  fields: null,
});

describe('the drift read model', () => {
  it('lists open drift with when and by whom it was first seen, even when seen again with other values', () => {
    const reader = projectEvents(driftProjection, [
      recorded('observation-contoso', 'DriftDetected', detected('obs-1', { poolFqdn: 'pcpool.contoso.com' }), by('alice', '2026-12-01T10:00:00.000Z')),
      recorded('observation-contoso', 'DriftDetected', detected('obs-2', { poolFqdn: 'pcpool2.contoso.com' }), by('bob', '2026-12-02T10:00:00.000Z')),
      recorded('observation-other', 'DriftDetected', { ...detected('obs-9', {}), entity: 'sipDomain:other.com' }, by('carol', '2026-12-02T10:00:00.000Z')),
    ]);
    expect(listDrift(reader, 'contoso')).toEqual([
      expect.objectContaining({ entity: endpoint, status: 'open', detectedBy: 'obs-2', observed: { poolFqdn: 'pcpool2.contoso.com' }, firstSeenAt: '2026-12-01T10:00:00.000Z', firstSeenBy: 'alice' }),
    ]);
  });

  it('keeps resolved drift, with how it was resolved, out of the open list', () => {
    const reader = projectEvents(driftProjection, [
      recorded('observation-contoso', 'DriftDetected', detected('obs-1', {}), by('alice', '2026-12-01T10:00:00.000Z')),
      recorded('observation-contoso', 'DriftResolved', { entity: endpoint, detectedBy: 'obs-1', resolution: 'adopted', observationId: 'obs-1' }, by('bob', '2026-12-01T11:00:00.000Z')),
    ]);
    expect(listDrift(reader, 'contoso')).toEqual([]);
    expect(listDrift(reader, 'contoso', true)).toEqual([
      expect.objectContaining({ entity: endpoint, status: 'resolved', resolution: 'adopted', resolvedBy: 'bob', resolvedAt: '2026-12-01T11:00:00.000Z' }),
    ]);
  });
});
