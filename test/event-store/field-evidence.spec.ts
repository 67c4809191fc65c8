import * as crypto from 'node:crypto';
import { changedFields, eventFields, fieldEvidence } from '../../src/event-store/field-evidence';

const event = {
  type: 'PersistentChatEndpointCreated',
  data: { sipAddress: 'sip:room@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'Room', distinguishedName: 'CN={1},CN=Application Contacts' },
  metadata: { actor: 'admin', reason: 'CHG-1', roles: ['admin'] },
};

describe('field evidence: naming the fields an edit of the log changed, without a copy of the event', () => {
  it('names exactly the fields whose values were edited, for every single field of the event', () => {
    const evidence = fieldEvidence(event);
    expect(changedFields(evidence, event)).toEqual([]);
    for (const [path] of eventFields(event)) {
      if (path === 'type') continue;
      const [part, key] = path.split('.') as ['data' | 'metadata', string];
      const edited = { ...event, [part]: { ...event[part], [key]: 'edited value' } };
      expect(changedFields(evidence, edited)?.map(([p]) => p)).toEqual([path]);
    }
  });

  it('tells a field added or removed from an edited value (which field cannot be told then)', () => {
    const evidence = fieldEvidence(event);
    expect(changedFields(evidence, { ...event, data: { ...event.data, extra: 1 } })).toBeUndefined();
    const { reason: _reason, ...withoutReason } = event.metadata;
    expect(changedFields(evidence, { ...event, metadata: withoutReason })).toBeUndefined();
  });

  it('tells a number from the same digits as text, and null from a missing value', () => {
    const numeric = { type: 'X', data: { n: 1, v: null }, metadata: {} };
    const evidence = fieldEvidence(numeric);
    expect(changedFields(evidence, { ...numeric, data: { n: '1', v: null } })?.map(([p]) => p)).toEqual(['data.n']);
    expect(changedFields(evidence, { ...numeric, data: { n: 1, v: 'null' } })?.map(([p]) => p)).toEqual(['data.v']);
  });

  it('still reads the evidence kept before FNV-1a (SHA-256 cut to 3 bytes, no marker): read models are not rebuilt for the change', () => {
    const sha = (text: string): Buffer => crypto.createHash('sha256').update(text).digest().subarray(0, 3);
    const fields = eventFields(event);
    const v2 = Buffer.concat([sha(fields.map(([p]) => p).join('\n')), ...fields.map(([, value]) => sha(JSON.stringify(value) ?? 'undefined'))]).toString('base64url');
    expect(changedFields(v2, event)).toEqual([]);
    expect(changedFields(v2, { ...event, data: { ...event.data, poolFqdn: 'evil.contoso.com' } })?.map(([p]) => p)).toEqual(['data.poolFqdn']);
    expect(fieldEvidence(event).startsWith('f1.')).toBe(true);
    expect(fieldEvidence(event)).toHaveLength('f1.'.length + Math.ceil((3 * (fields.length + 1) * 4) / 3));
  });
});
