import { auditRow, auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { queryAudit, toAuditEntry } from '../../projections/audit-trail/audit-trail.query';
import { projectEvents, recorded } from '../../projections/runner/testing';
import { ACCESS_DENIED, accessDeniedStreamId, API_TOKEN_ISSUED } from '../../src/application/streams';

describe('the audit trail lists denied attempts with the refused commands', () => {
  it('reads an AccessDenied as a refusal of its deployment, with its status and code, about no entity', () => {
    const data = {
      principal: 'reader-1',
      credentialFingerprint: '0123456789ab',
      route: 'POST /api/commands/StopPool',
      method: 'POST',
      command: 'StopPool',
      clientAddress: '10.0.0.7',
      status: 403,
      reason: 'role',
      deployment: 'contoso',
      error: { code: 'FORBIDDEN', message: 'reader-1 has role reader and may not run StopPool; it needs admin or operator.', details: { roles: ['reader'] } },
    };
    const metadata = { actor: 'reader-1', roles: ['reader'], authenticated: true, clientAddress: '10.0.0.7', occurredAt: '2026-03-02T09:00:00.000Z', command: 'StopPool' };
    const row = auditRow(recorded(accessDeniedStreamId('contoso'), ACCESS_DENIED, data, { metadata }));
    expect(row).toMatchObject({
      deployment: 'contoso',
      outcome: 'refused',
      status: 403,
      command: 'StopPool',
      actor: 'reader-1',
      error_code: 'FORBIDDEN',
      entity_id: null,
      reason: null,
      client_address: '10.0.0.7',
    });
    // The event's own texts come with the row when it is read (from the log, or the stored copy).
    const entry = toAuditEntry({ ...row, data: JSON.stringify(data), metadata: JSON.stringify(metadata) });
    expect(entry).toMatchObject({ type: 'AccessDenied', outcome: 'refused', error: { code: 'FORBIDDEN', status: 403, message: data.error.message } });
  });

  it('takes the deployment from the stream when nothing else names it', () => {
    const row = auditRow(recorded(accessDeniedStreamId('_unreadable'), ACCESS_DENIED, { status: 401, error: { code: 'UNAUTHENTICATED' } }, { metadata: { actor: 'anonymous' } }));
    expect(row).toMatchObject({ deployment: '_unreadable', outcome: 'refused', status: 401, error_code: 'UNAUTHENTICATED' });
  });

  it('keeps an API token issue without its salted hash', () => {
    const event = recorded('api_token-registry', API_TOKEN_ISSUED, { tokenId: 'ab', name: 'ci', role: 'operator', salt: 'c2FsdA', hash: 'aGFzaA', expiresAt: null }, { metadata: { actor: 'admin', command: 'IssueApiToken' } });
    const [entry] = queryAudit(projectEvents(auditTrailProjection, [event])).entries;
    expect(entry).toMatchObject({ outcome: 'accepted', actor: 'admin', command: 'IssueApiToken', data: { tokenId: 'ab', name: 'ci', role: 'operator', expiresAt: null } });
    expect(entry!.data).not.toHaveProperty('salt');
    expect(entry!.data).not.toHaveProperty('hash');
  });
});
