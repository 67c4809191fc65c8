import fc from 'fast-check';
import type { TopologyState } from '../../src/domain/topology';
import { endpointDirectoryProjection } from '../../projections/endpoint-directory/endpoint-directory.projection';
import {
  type DirectoryEntry,
  findEndpoints,
  resolveSipAddress,
  wildcardToLike,
} from '../../projections/endpoint-directory/endpoint-directory.query';
import { projectEvents } from '../../projections/runner/testing';
import { Log, fqdn, replay, sip, twoDeploymentHistory } from './topology.fixtures';

const contoso = fqdn('contoso.com');
const fabrikam = fqdn('fabrikam.com');
const gc = fqdn('gc.contoso.com');
const pcpool = fqdn('pcpool.contoso.com');
const pcpool2 = fqdn('pcpool2.contoso.com');
const ocschat = sip('sip:ocschat@contoso.com');
const persistentchat = sip('sip:persistentchat@contoso.com');
const defaultContact = 'sip:pc-default-pcpool-contoso-com@contoso.com';

function seededLog(): Log {
  const log = new Log();
  log.accept({ type: 'RegisterSipDomain', domain: contoso });
  log.accept({ type: 'RegisterSipDomain', domain: fabrikam });
  log.accept({ type: 'DefineLegacyGroupChatPool', fqdn: gc, version: 'Lync2010', wellKnownSipAddress: ocschat });
  log.accept({ type: 'InstallPersistentChatPool', fqdn: pcpool, servers: [fqdn('pc1.contoso.com')] });
  return log;
}

const addresses = (entries: DirectoryEntry[]): string[] => entries.map((entry) => entry.sipAddress);

describe('endpoint directory: which SIP URI reaches which pool', () => {
  it('lists the well-known user and the default pool contact, but Get-CsPersistentChatEndpoint shows endpoints only', () => {
    const reader = projectEvents(endpointDirectoryProjection, seededLog().events);
    expect(findEndpoints(reader, { deployment: 'default' })).toEqual([]);
    expect(findEndpoints(reader, { deployment: 'default', includeAll: true })).toEqual([
      {
        sipAddress: 'sip:ocschat@contoso.com',
        kind: 'wellKnownUser',
        poolFqdn: 'gc.contoso.com',
        poolKind: 'legacyGroupChat',
        displayName: null,
        distinguishedName: null,
      },
      {
        sipAddress: defaultContact,
        kind: 'defaultPoolContact',
        poolFqdn: 'pcpool.contoso.com',
        poolKind: 'persistentChat',
        displayName: null,
        distinguishedName: null,
      },
    ]);
  });

  it('R16: sip:ocschat@contoso.com reaches the legacy pool, then nothing during the offline window, then the Persistent Chat pool', () => {
    const log = seededLog();
    log.accept({ type: 'StopPool', fqdn: gc });
    const beforeStep4 = log.head;
    log.accept({ type: 'DeleteSipPrincipal', sipAddress: ocschat, reason: 'migration step 4' });
    const afterStep4 = log.head;
    log.accept({ type: 'CreateEndpoint', sipAddress: ocschat, poolFqdn: pcpool, displayName: 'Legacy Chat' });
    const reader = projectEvents(endpointDirectoryProjection, log.events);

    expect(resolveSipAddress(reader, 'default', 'sip:ocschat@contoso.com', beforeStep4)).toMatchObject({
      kind: 'wellKnownUser',
      poolFqdn: 'gc.contoso.com',
      poolKind: 'legacyGroupChat',
    });
    expect(resolveSipAddress(reader, 'default', 'sip:ocschat@contoso.com', afterStep4)).toBeNull();
    expect(resolveSipAddress(reader, 'default', 'SIP:OcsChat@Contoso.com')).toEqual({
      sipAddress: 'sip:ocschat@contoso.com',
      kind: 'endpoint',
      poolFqdn: 'pcpool.contoso.com',
      poolKind: 'persistentChat',
      displayName: 'Legacy Chat',
      distinguishedName: 'CN=ocschat@contoso.com,CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=contoso,DC=com',
    });
    expect(resolveSipAddress(reader, 'other', 'sip:ocschat@contoso.com')).toBeNull();
  });

  it('drops the default pool contact with its pool, and an endpoint when it is removed', () => {
    const log = seededLog();
    log.accept({ type: 'CreateEndpoint', sipAddress: persistentchat, poolFqdn: pcpool });
    const withEndpoint = log.head;
    log.accept({ type: 'RemoveEndpoint', identity: 'sip:persistentchat@contoso.com', reason: 'wrong pool' });
    log.accept({ type: 'RemovePersistentChatPool', fqdn: pcpool, reason: 'retired' });
    const reader = projectEvents(endpointDirectoryProjection, log.events);
    expect(addresses(findEndpoints(reader, { deployment: 'default', includeAll: true }))).toEqual(['sip:ocschat@contoso.com']);
    expect(addresses(findEndpoints(reader, { deployment: 'default', includeAll: true, atPosition: withEndpoint }))).toEqual([
      'sip:ocschat@contoso.com',
      defaultContact,
      'sip:persistentchat@contoso.com',
    ]);
  });

  it('ignores streams other than topology-<deployment>, and events that move no address', () => {
    const log = seededLog();
    log.append('refused_command-default', 0, 'CommandRefused', { command: 'CreateEndpoint' });
    log.append('migration-42', 0, 'PersistentChatEndpointCreated', {
      sipAddress: 'sip:x@contoso.com',
      poolFqdn: 'pcpool.contoso.com',
      displayName: null,
      distinguishedName: 'CN=x',
    });
    log.append('topology-default', 5, 'SomethingNewHappened', {});
    const view = { get: () => undefined, find: () => [] };
    for (const event of log.events.slice(-3)) expect(endpointDirectoryProjection.project(event, view)).toEqual([]);
    const reader = projectEvents(endpointDirectoryProjection, log.events);
    expect(findEndpoints(reader, { deployment: 'default', filter: 'sip:x@*' })).toEqual([]);
  });
});

describe('endpoint directory: the filters of Get-CsPersistentChatEndpoint', () => {
  function directory() {
    const log = seededLog();
    log.accept({ type: 'InstallPersistentChatPool', fqdn: pcpool2, servers: [fqdn('pc2.contoso.com')] });
    log.accept({ type: 'CreateEndpoint', sipAddress: persistentchat, poolFqdn: pcpool, displayName: 'Persistent Chat' });
    log.accept({ type: 'CreateEndpoint', sipAddress: sip('sip:pc_chat@contoso.com'), poolFqdn: pcpool2, displayName: 'persistent chat' });
    log.accept({ type: 'CreateEndpoint', sipAddress: sip('sip:pcxchat@contoso.com'), poolFqdn: pcpool2, displayName: 'Chat, Building 7' });
    log.accept({ type: 'CreateEndpoint', sipAddress: sip('sip:100%chat@fabrikam.com'), poolFqdn: pcpool2 });
    log.accept({ type: 'CreateEndpoint', sipAddress: sip('sip:100xchat@fabrikam.com'), poolFqdn: pcpool2 });
    const created = log.head;
    log.accept({ type: 'RemoveEndpoint', identity: 'sip:100xchat@fabrikam.com', reason: 'test' });
    return { reader: projectEvents(endpointDirectoryProjection, log.events), created };
  }

  it('lists every endpoint sorted by SIP address, optionally as of a position and up to -ResultSize', () => {
    const { reader, created } = directory();
    expect(addresses(findEndpoints(reader, { deployment: 'default' }))).toEqual([
      'sip:100%chat@fabrikam.com',
      'sip:pc_chat@contoso.com',
      'sip:pcxchat@contoso.com',
      'sip:persistentchat@contoso.com',
    ]);
    expect(addresses(findEndpoints(reader, { deployment: 'default', atPosition: created }))).toContain('sip:100xchat@fabrikam.com');
    expect(addresses(findEndpoints(reader, { deployment: 'default', resultSize: 2 }))).toEqual(['sip:100%chat@fabrikam.com', 'sip:pc_chat@contoso.com']);
  });

  it('-PersistentChatPoolFqdn: only the endpoints of that pool', () => {
    const { reader } = directory();
    expect(addresses(findEndpoints(reader, { deployment: 'default', pool: 'PCPool.contoso.com' }))).toEqual(['sip:persistentchat@contoso.com']);
    expect(addresses(findEndpoints(reader, { deployment: 'default', pool: 'pcpool.contoso.com', includeAll: true }))).toEqual([
      defaultContact,
      'sip:persistentchat@contoso.com',
    ]);
    expect(findEndpoints(reader, { deployment: 'default', pool: 'gc.contoso.com' })).toEqual([]);
  });

  it('R6: -Identity is a SIP address, a distinguished name or a display name, without regard to case', () => {
    const { reader } = directory();
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: ' SIP:PersistentChat@contoso.com ' }))).toEqual([
      'sip:persistentchat@contoso.com',
    ]);
    const dn = 'cn=pcxchat@contoso.com,cn=application contacts,cn=rtc service,cn=services,cn=configuration,dc=contoso,dc=com';
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: dn }))).toEqual(['sip:pcxchat@contoso.com']);
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: 'chat, building 7' }))).toEqual(['sip:pcxchat@contoso.com']);
    // A display name shared by two endpoints names both: a Get lists them (a Remove would refuse).
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: 'PERSISTENT CHAT' }))).toEqual([
      'sip:pc_chat@contoso.com',
      'sip:persistentchat@contoso.com',
    ]);
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: 'Persistent*' }))).toEqual([
      'sip:pc_chat@contoso.com',
      'sip:persistentchat@contoso.com',
    ]);
    // The well-known user owns its address, but it is not an endpoint.
    expect(findEndpoints(reader, { deployment: 'default', identity: 'sip:ocschat@contoso.com' })).toEqual([]);
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: 'sip:ocschat@contoso.com', includeAll: true }))).toEqual([
      'sip:ocschat@contoso.com',
    ]);
  });

  it('-Filter / sipAddress=: `*` is the only wildcard, `%` and `_` match themselves, and the sip: prefix may be left out', () => {
    const { reader } = directory();
    const matching = (filter: string) => addresses(findEndpoints(reader, { deployment: 'default', filter }));
    expect(matching('*@fabrikam.com')).toEqual(['sip:100%chat@fabrikam.com']);
    expect(matching('sip:pc_chat*')).toEqual(['sip:pc_chat@contoso.com']);
    expect(matching('pc_chat@contoso.com')).toEqual(['sip:pc_chat@contoso.com']);
    expect(matching('100%*')).toEqual(['sip:100%chat@fabrikam.com']);
    expect(matching('SIP:P*CHAT@CONTOSO.COM')).toEqual(['sip:pc_chat@contoso.com', 'sip:pcxchat@contoso.com', 'sip:persistentchat@contoso.com']);
    expect(matching('sip:p')).toEqual([]);
    expect(addresses(findEndpoints(reader, { deployment: 'default', filter: '*chat@contoso.com', pool: 'pcpool2.contoso.com' }))).toEqual([
      'sip:pc_chat@contoso.com',
      'sip:pcxchat@contoso.com',
    ]);
    expect(addresses(findEndpoints(reader, { deployment: 'default', identity: 'sip:p*', filter: '*x*' }))).toEqual(['sip:pcxchat@contoso.com']);
    expect(wildcardToLike('sip:a\\b_c%d*')).toBe('sip:a\\\\b\\_c\\%d%');
  });
});

/** Where each address leads in a domain state, derived independently of the projection. */
function expectedDirectory(state: TopologyState): DirectoryEntry[] {
  const entries: DirectoryEntry[] = [];
  for (const endpoint of state.endpoints.values()) {
    entries.push({
      sipAddress: endpoint.sipAddress,
      kind: 'endpoint',
      poolFqdn: endpoint.poolFqdn,
      poolKind: 'persistentChat',
      displayName: endpoint.displayName,
      distinguishedName: endpoint.distinguishedName,
    });
  }
  for (const principal of state.principals.values()) {
    if (principal.kind !== 'wellKnownUser' || principal.legacyPoolFqdn === null) continue;
    entries.push({
      sipAddress: principal.sipAddress,
      kind: 'wellKnownUser',
      poolFqdn: principal.legacyPoolFqdn,
      poolKind: 'legacyGroupChat',
      displayName: principal.displayName,
      distinguishedName: null,
    });
  }
  for (const [sipAddress, poolFqdn] of state.defaultPoolContacts) {
    entries.push({ sipAddress, kind: 'defaultPoolContact', poolFqdn, poolKind: 'persistentChat', displayName: null, distinguishedName: null });
  }
  return entries.sort((a, b) => (a.sipAddress < b.sipAddress ? -1 : 1));
}

describe('endpoint directory against an independent replay of the domain', () => {
  it('at every position of random histories, every address leads where the domain fold says, and the endpoint filter lists its endpoints', () => {
    fc.assert(
      fc.property(twoDeploymentHistory, (history) => {
        const log = new Log();
        for (const { deployment, command } of history) log.run(command, deployment);
        const reader = projectEvents(endpointDirectoryProjection, log.events);
        for (let position = 0; position <= log.head; position += 1) {
          for (const deployment of ['contoso', 'fabrikam']) {
            const expected = expectedDirectory(replay(log.events, deployment, position).state);
            expect(findEndpoints(reader, { deployment, includeAll: true, atPosition: position })).toEqual(expected);
            expect(findEndpoints(reader, { deployment, atPosition: position })).toEqual(expected.filter((entry) => entry.kind === 'endpoint'));
            for (const entry of expected) expect(resolveSipAddress(reader, deployment, entry.sipAddress, position)).toEqual(entry);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
