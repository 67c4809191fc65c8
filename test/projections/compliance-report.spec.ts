import { auditDigestProjection } from '../../projections/audit-digest/audit-digest.projection';
import { auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { topologyProjection } from '../../projections/topology/topology.projection';
import { complianceReport } from '../../projections/compliance/compliance-report.query';
import { projectEvents, recorded } from '../../projections/runner/testing';
import type { JsonObject, RecordedEvent } from '../../src/event-store/event-store';

const at = (day: number): string => new Date(Date.UTC(2026, 4, day, 12)).toISOString();
const meta = (actor: string, day: number, extra: JsonObject = {}): JsonObject => ({ actor, roles: ['operator'], occurredAt: at(day), deployment: 'contoso', ...extra });

describe('the compliance report', () => {
  const migration = 'a1b2c3d4-0000-4000-8000-000000000001';
  const events: RecordedEvent[] = [
    recorded('topology-contoso', 'PersistentChatEndpointCreated', { sipAddress: 'sip:room@contoso.com', poolFqdn: 'pc1.contoso.com', displayName: null, distinguishedName: 'CN=room,OU=PC,DC=contoso,DC=com' }, { metadata: meta('alice', 1, { command: 'CreateEndpoint' }) }),
    recorded('topology-contoso', 'LegacyGroupChatPoolDefined', { fqdn: 'gc.contoso.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@contoso.com', services: { lookup: 'gc.contoso.com', channel: 'gc.contoso.com', web: null, compliance: null }, databaseInstance: null }, { metadata: meta('alice', 2, { command: 'DefineLegacyGroupChatPool' }) }),
    recorded('migration-' + migration, 'MigrationPlanned', { migrationId: migration, legacyPoolFqdn: 'gc.contoso.com' }, { metadata: meta('bob', 10, { command: 'MigratePool', reason: 'CHG-1', migrationId: migration }) }),
    recorded('topology-contoso', 'PoolStopped', { fqdn: 'gc.contoso.com', poolKind: 'legacyGroupChat', previousStatus: 'Started' }, { metadata: meta('bob', 11, { command: 'RunMigration', migrationId: migration, migrationStep: 1 }) }),
    recorded('migration-' + migration, 'MigrationStepCompleted', { migrationId: migration, step: 1 }, { metadata: meta('bob', 11, { command: 'RunMigration', migrationId: migration }) }),
    recorded('access_denied-contoso', 'AccessDenied', { command: 'RemoveEndpoint', code: 'FORBIDDEN', message: 'role reader may not RemoveEndpoint', input: { identity: 'sip:room@contoso.com' } }, { metadata: meta('mallory', 12) }),
    recorded('refused_command-contoso', 'CommandRefused', { command: 'RemoveEndpoint', deployment: 'contoso', input: { identity: 'sip:room@contoso.com' }, status: 400, error: { code: 'REASON_REQUIRED', message: 'needs a reason', details: {} } }, { metadata: meta('alice', 13, { command: 'RemoveEndpoint' }) }),
    recorded('topology-contoso', 'PersistentChatEndpointRemoved', { sipAddress: 'sip:room@contoso.com', poolFqdn: 'pc1.contoso.com', displayName: null, distinguishedName: 'CN=room,OU=PC,DC=contoso,DC=com', reason: 'CHG-2' }, { metadata: meta('alice', 14, { command: 'RemoveEndpoint', reason: 'CHG-2' }) }),
    recorded('topology-other', 'PersistentChatEndpointCreated', { sipAddress: 'sip:x@fabrikam.com', poolFqdn: 'pc.fabrikam.com', displayName: null, distinguishedName: 'CN=x' }, { metadata: { ...meta('eve', 14), deployment: 'other' } }),
    recorded('topology-contoso', 'PersistentChatEndpointCreated', { sipAddress: 'sip:late@contoso.com', poolFqdn: 'pc1.contoso.com', displayName: null, distinguishedName: 'CN=late' }, { metadata: meta('alice', 40) }),
  ];
  const audit = projectEvents(auditTrailProjection, events);
  const digests = projectEvents(auditDigestProjection, events);
  const topology = projectEvents(topologyProjection, events);

  it('covers the period of one deployment: before → after from earlier changes, refusals, denials, migrations, summaries', () => {
    const report = complianceReport(audit, digests, topology, { deployment: 'contoso', from: '2026-05-05', to: '2026-05-31' });
    expect(report.changes.map((c) => c.eventType)).toEqual(['PoolStopped', 'PersistentChatEndpointRemoved']);
    const removed = report.changes[1]!;
    // Its creation is before the period: "before" still comes from it.
    expect(removed).toMatchObject({ actor: 'alice', reason: 'CHG-2', after: null, before: { sipAddress: 'sip:room@contoso.com', poolFqdn: 'pc1.contoso.com' } });
    expect(report.changes[0]).toMatchObject({ migrationId: migration, migrationStep: 1, entity: { kind: 'legacyPool', id: 'gc.contoso.com' } });
    // The pool's state, not the events' payloads: stopping it changes its status and nothing else.
    const stopped = report.changes[0]!;
    expect(stopped.before).toMatchObject({ fqdn: 'gc.contoso.com', version: 'Lync2010', status: 'Started', wellKnownSipAddress: 'sip:ocschat@contoso.com' });
    expect(stopped.after).toEqual({ ...stopped.before, status: 'Stopped' });
    expect(report.refused).toEqual([expect.objectContaining({ actor: 'alice', command: 'RemoveEndpoint', status: 400, errorCode: 'REASON_REQUIRED' })]);
    expect(report.denied).toEqual([expect.objectContaining({ actor: 'mallory', command: 'RemoveEndpoint', errorCode: 'FORBIDDEN', message: 'role reader may not RemoveEndpoint' })]);
    expect(report.migrations).toEqual([
      { migrationId: migration, events: [expect.objectContaining({ eventType: 'MigrationPlanned', reason: 'CHG-1' }), expect.objectContaining({ eventType: 'PoolStopped', step: 1 }), expect.objectContaining({ eventType: 'MigrationStepCompleted', step: 1 })] },
    ]);
    // Each actor's changes are entries of report.changes; the migration's own records are counted apart.
    expect(report.summary.actors).toEqual([
      { actor: 'alice', changes: 1, migrationEvents: 0, refused: 1, denied: 0 },
      { actor: 'bob', changes: 1, migrationEvents: 2, refused: 0, denied: 0 },
      { actor: 'mallory', changes: 0, migrationEvents: 0, refused: 0, denied: 1 },
    ]);
    for (const actor of report.summary.actors) expect(actor.changes).toBe(report.changes.filter((c) => c.actor === actor.actor).length);
    // The digest at the period's last entry, not at the log's head.
    expect(report.digest).toMatchObject({ position: events[7]!.position, events: 8 });
  });

  it('names the field of a bad period', () => {
    expect(() => complianceReport(audit, digests, topology, { deployment: 'contoso', from: '2026-05-31', to: '2026-05-01' })).toThrow(expect.objectContaining({ field: 'to' }));
    expect(() => complianceReport(audit, digests, topology, { deployment: 'contoso', from: undefined, to: '2026-05-01' })).toThrow(expect.objectContaining({ field: 'from' }));
  });
});
