import {
  currentSchemaVersion,
  PRODUCT_VERSIONING,
  RecordedEventUnreadable,
  schemaVersionOf,
  toAuditRecord,
  toMigrationEvent,
  toObservationEvent,
  toTopologyEvent,
  upcast,
  type Versioning,
  withSchemaVersions,
} from '../../src/domain/events';

const recorded = (type: string, data: Record<string, unknown>, metadata: Record<string, unknown> = {}) =>
  ({ streamId: 'topology-default', revision: 3, type, data, metadata }) as Parameters<typeof upcast>[0];

describe('the read boundary: recorded events become domain events in one place', () => {
  it('reads an event without schemaVersion as version 1, and refuses a version that is not a positive integer', () => {
    expect(schemaVersionOf(recorded('PoolStarted', {}))).toBe(1);
    expect(schemaVersionOf(recorded('PoolStarted', {}, { schemaVersion: 2 }))).toBe(2);
    for (const bad of [0, -1, 1.5, '1', null]) {
      expect(() => schemaVersionOf(recorded('PoolStarted', {}, { schemaVersion: bad }))).toThrow(RecordedEventUnreadable);
    }
  });

  it('hands out an event of the asked category at its current version, the same object when nothing is to upcast', () => {
    const event = recorded('PoolStarted', { fqdn: 'pcpool.contoso.com', poolKind: 'persistentChat', previousStatus: 'Installed' }, { schemaVersion: 1 });
    expect(toTopologyEvent(event)).toEqual({ type: 'PoolStarted', data: event.data });
    expect(upcast(event)).toBe(event);
  });

  it('refuses an event of another category where it does not belong, naming the stream and revision', () => {
    const event = recorded('MigrationCompleted', { migrationId: 'm' });
    expect(() => toTopologyEvent(event)).toThrow(/topology-default@3 \(MigrationCompleted\): not an event of a topology stream/);
    expect(() => toMigrationEvent(recorded('PoolStarted', {}))).toThrow(RecordedEventUnreadable);
    expect(() => toObservationEvent(recorded('PoolStarted', {}))).toThrow(RecordedEventUnreadable);
    expect(() => toAuditRecord(recorded('PoolStarted', {}))).toThrow(RecordedEventUnreadable);
  });

  it('refuses an event whose data lacks a field its version has, naming the field', () => {
    const event = recorded('SipDomainRegistered', { domain: 'contoso.com', isDefault: true });
    expect(() => toTopologyEvent(event)).toThrow(/topology-default@3 \(SipDomainRegistered\): data.previousDefault is missing/);
    // null is a value: absent values are null in every event's data.
    expect(toTopologyEvent(recorded('SipDomainRegistered', { domain: 'contoso.com', isDefault: true, previousDefault: null })).type).toBe('SipDomainRegistered');
  });

  it('passes a type this version does not know as it is (a later version wrote it): the folds ignore it', () => {
    const event = recorded('SomethingNewHappened', { x: 1 }, { schemaVersion: 7 });
    expect(toTopologyEvent(event)).toEqual({ type: 'SomethingNewHappened', data: { x: 1 } });
  });

  it('upcasts AccessDenied 1 -> 2: an attempt before aggregation counts once, first and last at its time', () => {
    const before = {
      principal: null,
      credentialFingerprint: null,
      route: 'GET /api/topology',
      method: 'GET',
      command: null,
      clientAddress: '10.0.0.7',
      status: 401,
      reason: 'no credential',
      deployment: 'default',
      error: { code: 'UNAUTHENTICATED', message: 'Authentication required.', details: {} },
    };
    const v1 = recorded('AccessDenied', before, { occurredAt: '2026-06-01T08:01:00.000Z', schemaVersion: 1 });
    const record = toAuditRecord(v1);
    expect(record).toEqual({
      type: 'AccessDenied',
      data: { ...before, attempts: 1, firstOccurredAt: '2026-06-01T08:01:00.000Z', lastOccurredAt: '2026-06-01T08:01:00.000Z' },
    });
    // What was read is not changed: the stored text stays what the hash chain covers.
    expect(v1.data).toEqual(before);
    // An aggregated event written while it was still version 1 keeps its counts.
    const aggregated = recorded('AccessDenied', { attempts: 4, firstOccurredAt: 'a', lastOccurredAt: 'b' }, { occurredAt: 'a', schemaVersion: 1 });
    expect(upcast(aggregated).data).toMatchObject({ attempts: 4, firstOccurredAt: 'a', lastOccurredAt: 'b' });
  });

  describe('a chain of upcasters (a synthetic event, for the chain itself)', () => {
    // Version 1 had `name`; 2 split it into `first` and `last`; 3 added `title` (null when unknown).
    const versioning: Versioning = {
      current: (type) => (type === 'PersonNamed' ? 3 : PRODUCT_VERSIONING.current(type)),
      upcasters: {
        PersonNamed: {
          1: (data) => {
            const [first = '', ...rest] = String(data['name']).split(' ');
            const { name: _name, ...others } = data;
            return { ...others, first, last: rest.join(' ') };
          },
          2: (data) => ({ ...data, title: null }),
        },
      },
    };

    it('applies n -> n + 1 in order from the recorded version to the current one', () => {
      expect(upcast(recorded('PersonNamed', { name: 'Ada King Lovelace' }), versioning).data).toEqual({ first: 'Ada', last: 'King Lovelace', title: null });
      expect(upcast(recorded('PersonNamed', { first: 'Ada', last: 'Lovelace' }, { schemaVersion: 2 }), versioning).data).toEqual({ first: 'Ada', last: 'Lovelace', title: null });
      const upcasted = upcast(recorded('PersonNamed', { name: 'Ada Lovelace' }), versioning);
      expect(upcasted.metadata['schemaVersion']).toBe(3);
      // Upcasting what is already current changes nothing.
      expect(upcast(upcasted, versioning)).toBe(upcasted);
    });

    it('refuses a version newer than the product reads, and a gap in the chain', () => {
      expect(() => upcast(recorded('PersonNamed', {}, { schemaVersion: 4 }), versioning)).toThrow(/version 4 is newer than this product reads \(3\)/);
      const gap: Versioning = { ...versioning, upcasters: { PersonNamed: { 2: (d) => d } } };
      expect(() => upcast(recorded('PersonNamed', { name: 'x' }), gap)).toThrow(/no upcaster from version 1 to 2/);
    });
  });

  it('writes each event with its type’s current version, whatever the metadata held', () => {
    const [denied, refused] = withSchemaVersions([
      { id: '1', type: 'AccessDenied', data: {}, metadata: { actor: 'x', schemaVersion: 1 } },
      { id: '2', type: 'CommandRefused', data: {} },
    ]);
    expect(denied!.metadata).toEqual({ actor: 'x', schemaVersion: currentSchemaVersion('AccessDenied') });
    expect(currentSchemaVersion('AccessDenied')).toBe(2);
    expect(refused!.metadata).toEqual({ schemaVersion: 1 });
  });
});
