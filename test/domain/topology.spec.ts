import {
  AmbiguousIdentity,
  DomainError,
  EndpointNotFound,
  InvalidFqdn,
  InvalidSipAddress,
  PoolHasEndpoints,
  PoolNotFound,
  PoolNotPersistentChat,
  PoolStateInvalid,
  ReasonRequired,
  SipAddressInUse,
  SipDomainNotRegistered,
  TooManyActiveServers,
  TooManyServers,
} from '../../src/domain/errors';
import type { JsonObject } from '../../src/event-store/event-store';
import { parseFqdn } from '../../src/domain/shared/fqdn';
import { parseSipUri, sipDomainOf } from '../../src/domain/shared/sip-uri';
import {
  type TopologyCommand,
  type TopologyEvent,
  decide,
  endpointDistinguishedName,
  evolve,
  foldTopology,
  initialState,
  ownerOf,
} from '../../src/domain/topology';
import {
  defaultContactOf,
  endpointCreated,
  fqdn,
  fqdns,
  legacyPoolDefined,
  persistentChatPoolInstalled,
  persistentChatPoolRemoved,
  poolStarted,
  poolStopped,
  principalRegistered,
  seed,
  serverAdded,
  sip,
  sipDomainRegistered,
  snapshot,
  wellKnownUserDeleted,
} from './fixtures';
import { given, givenState } from './given';

const contoso = sipDomainRegistered('contoso.com');
const pcpool = persistentChatPoolInstalled('pcpool.contoso.com');

function errorOf(action: () => unknown): DomainError {
  try {
    action();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a DomainError');
}

describe('the seed scenario: Lync 2010 Group Chat to Persistent Chat', () => {
  const createOcschatEndpoint: TopologyCommand = {
    type: 'CreateEndpoint',
    sipAddress: sip('sip:ocschat@contoso.com'),
    poolFqdn: fqdn('pcpool.contoso.com'),
  };

  it('R3: the endpoint cannot take sip:ocschat@contoso.com while the well-known user owns it, and can once it is deleted', () => {
    const history: TopologyEvent[] = [];
    const run = (command: TopologyCommand) => {
      const decision = decide(command, foldTopology(history));
      history.push(...decision.events);
      return decision;
    };
    run({ type: 'RegisterSipDomain', domain: fqdn('contoso.com') });
    run({ type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') });
    run({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com') });

    const refusal = errorOf(() => run(createOcschatEndpoint));
    expect(refusal).toBeInstanceOf(SipAddressInUse);
    expect(refusal).toMatchObject({ code: 'SIP_ADDRESS_IN_USE', category: 'conflict', rule: 'R3', field: 'sipAddress' });
    expect(refusal.details['owner']).toMatchObject({ kind: 'wellKnownUser', poolFqdn: 'gc.contoso.com' });

    run({ type: 'DeleteSipPrincipal', sipAddress: sip('sip:ocschat@contoso.com'), reason: 'CHG-1042 migrate gc.contoso.com' });
    const created = run(createOcschatEndpoint);
    expect(created.events).toEqual([endpointCreated('sip:ocschat@contoso.com', 'pcpool.contoso.com')]);
    expect(ownerOf(foldTopology(history), sip('sip:ocschat@contoso.com'))).toMatchObject({ kind: 'endpoint' });
  });

  it('R1: New-CsPersistentChatEndpoint -SipAddress sip:persistentchat@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com', () => {
    given(seed)
      .when({
        type: 'CreateEndpoint',
        sipAddress: parseSipUri('sip:persistentchat@contoso.com', 'sipAddress'),
        poolFqdn: parseFqdn('pcpool.contoso.com', 'persistentChatPoolFqdn'),
      })
      .then([endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')]);
  });
});

describe('R1: SIP addresses carry the sip: prefix and a registered SIP domain', () => {
  it('R1: an address without the prefix is refused with a hint showing the corrected form', () => {
    const error = errorOf(() => parseSipUri('persistentchat@contoso.com', 'sipAddress'));
    expect(error).toBeInstanceOf(InvalidSipAddress);
    expect(error).toMatchObject({ code: 'INVALID_SIP_ADDRESS', category: 'invalid', rule: 'R1', field: 'sipAddress' });
    expect(error.details['hint']).toBe('sip:persistentchat@contoso.com');
    expect(error.message).toContain("'sip:persistentchat@contoso.com'");
  });

  it.each([
    ['sip:', 'no user or domain'],
    ['sip:@contoso.com', 'empty user part'],
    ['sip:persistentchat', 'no domain'],
    ['sip:persistent chat@contoso.com', 'a space in the user part'],
    ['sip:persistentchat@contoso', 'a one-label domain'],
    ['sip:persistentchat@-contoso.com', 'a label starting with a hyphen'],
    ['sip:persistentchat@contoso.com;transport=tls', 'URI parameters'],
    ['sip:persistentchat@10.0.0.1', 'an IP address'],
    ['sips:persistentchat@contoso.com', 'another scheme'],
    ['', 'nothing'],
  ])('R1: %j is refused (%s)', (input) => {
    expect(errorOf(() => parseSipUri(input, 'sipAddress'))).toMatchObject({ code: 'INVALID_SIP_ADDRESS', rule: 'R1' });
  });

  it('R1: sipDomainOf gives the domain part', () => {
    expect(sipDomainOf(sip('sip:persistentchat@chat.contoso.com'))).toBe('chat.contoso.com');
  });

  it('R1: an endpoint in a SIP domain the deployment does not have is refused, naming the domain', () => {
    const error = given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@fabrikam.com'), poolFqdn: fqdn('pcpool.contoso.com') })
      .thenThrows(SipDomainNotRegistered, { rule: 'R1', category: 'invalid', field: 'sipAddress' });
    expect(error.code).toBe('SIP_DOMAIN_NOT_REGISTERED');
    expect(error.details['domain']).toBe('fabrikam.com');
    expect(error.message).toContain('fabrikam.com');
  });

  it('R1: a principal in an unregistered domain is refused', () => {
    given(contoso)
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:alice@fabrikam.com'), kind: 'user' })
      .thenThrows('SIP_DOMAIN_NOT_REGISTERED', { rule: 'R1', field: 'sipAddress' });
  });

  it("R1: a legacy pool's well-known user in an unregistered domain is refused", () => {
    given(contoso)
      .when({ type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@fabrikam.com') })
      .thenThrows('SIP_DOMAIN_NOT_REGISTERED', { rule: 'R1', field: 'wellKnownSipAddress' });
  });

  it('R1: a SIP domain still used by an address cannot be removed; the error lists the addresses', () => {
    const error = given(seed)
      .when({ type: 'RemoveSipDomain', domain: fqdn('contoso.com'), reason: 'tidy up' })
      .thenThrows('SIP_DOMAIN_IN_USE', { rule: 'R1', category: 'conflict' });
    expect(error.details['sipAddresses']).toEqual(['sip:ocschat@contoso.com', defaultContactOf('pcpool.contoso.com')]);
  });

  it("R1: the SIP domain of a legacy pool's well-known address stays registered after its well-known user is deleted (migration step 4): the pool still names it", () => {
    const error = given(contoso, ...legacyPoolDefined('gc.contoso.com', 'sip:ocschat@contoso.com'), wellKnownUserDeleted('sip:ocschat@contoso.com', 'gc.contoso.com'))
      .when({ type: 'RemoveSipDomain', domain: fqdn('contoso.com'), reason: 'tidy up' })
      .thenThrows('SIP_DOMAIN_IN_USE', { rule: 'R1', category: 'conflict' });
    expect(error.details['sipAddresses']).toEqual(['sip:ocschat@contoso.com']);
  });

  it('R1: an unused SIP domain can be removed, with a reason', () => {
    given(contoso, sipDomainRegistered('fabrikam.com', false))
      .when({ type: 'RemoveSipDomain', domain: fqdn('fabrikam.com'), reason: 'divested' })
      .then([{ type: 'SipDomainRemoved', data: { domain: fqdn('fabrikam.com'), wasDefault: false, reason: 'divested' } }]);
  });

  it('R1: the first SIP domain becomes the default; registering it twice is a conflict', () => {
    given()
      .when({ type: 'RegisterSipDomain', domain: fqdn('contoso.com') })
      .then([sipDomainRegistered('contoso.com', true)]);
    given(contoso)
      .when({ type: 'RegisterSipDomain', domain: fqdn('Contoso.COM') })
      .thenThrows('SIP_DOMAIN_ALREADY_REGISTERED', { category: 'conflict' });
  });

  it('R1: a later domain becomes the default only when asked, and SetDefaultSipDomain moves the role', () => {
    given(contoso).when({ type: 'RegisterSipDomain', domain: fqdn('fabrikam.com') }).then([sipDomainRegistered('fabrikam.com', false)]);
    given(contoso)
      .when({ type: 'RegisterSipDomain', domain: fqdn('fabrikam.com'), isDefault: true })
      .then([sipDomainRegistered('fabrikam.com', true, 'contoso.com')]);
    given(contoso, sipDomainRegistered('fabrikam.com', false))
      .when({ type: 'SetDefaultSipDomain', domain: fqdn('fabrikam.com') })
      .then([{ type: 'DefaultSipDomainChanged', data: { domain: fqdn('fabrikam.com'), previousDefault: fqdn('contoso.com') } }]);
  });

  it('R1: the default SIP domain cannot be removed while other domains remain', () => {
    given(contoso, sipDomainRegistered('fabrikam.com', false))
      .when({ type: 'RemoveSipDomain', domain: fqdn('contoso.com'), reason: 'rename' })
      .thenThrows('SIP_DOMAIN_IS_DEFAULT', { category: 'conflict' });
  });
});

describe('R2: SIP addresses compare case-insensitively and are stored lower-cased', () => {
  it('R2: parsing lower-cases the whole address', () => {
    expect(parseSipUri('  SIP:PersistentChat@Contoso.COM ', 'sipAddress')).toBe('sip:persistentchat@contoso.com');
  });

  it('R2: an address differing only in case is the same address', () => {
    given(contoso, principalRegistered('sip:alice@contoso.com'))
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:Alice@Contoso.com'), kind: 'contact' })
      .thenThrows(SipAddressInUse, { rule: 'R3' });
  });

  it('R2: RemoveEndpoint finds an endpoint whatever the case of its address', () => {
    const decision = given(seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com'))
      .when({ type: 'RemoveEndpoint', identity: 'SIP:PersistentChat@CONTOSO.com', reason: 'rebuild' })
      .thenAcceptedWithoutWarnings();
    expect(decision.events[0]?.type).toBe('PersistentChatEndpointRemoved');
  });

  it('R2: FQDNs are lower-cased too, without a trailing dot', () => {
    expect(parseFqdn('PCPool.Contoso.COM.', 'fqdn')).toBe('pcpool.contoso.com');
    for (const bad of ['pcpool', 'pc_pool.contoso.com', 'pcpool..contoso.com', '-pc.contoso.com', '10.0.0.1', '']) {
      expect(errorOf(() => parseFqdn(bad, 'fqdn'))).toBeInstanceOf(InvalidFqdn);
    }
  });
});

describe('R3: a SIP URI has one owner at a time', () => {
  it("R3: a SIP URI has one owner: an endpoint cannot take the well-known user's URI", () => {
    const error = given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:ocschat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') })
      .thenThrows(SipAddressInUse, { rule: 'R3', category: 'conflict', field: 'sipAddress' });
    expect(error.details['owner']).toEqual({
      kind: 'wellKnownUser',
      sipAddress: 'sip:ocschat@contoso.com',
      displayName: null,
      poolFqdn: 'gc.contoso.com',
    });
    expect(error.message).toContain('policy');
    expect(error.message).toContain('DeleteSipPrincipal');
  });

  it("R3: a principal cannot take an endpoint's URI", () => {
    const error = given(seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com'))
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:persistentchat@contoso.com'), kind: 'user' })
      .thenThrows('SIP_ADDRESS_IN_USE', { rule: 'R3' });
    expect(error.details['owner']).toMatchObject({ kind: 'endpoint', poolFqdn: 'pcpool.contoso.com' });
  });

  it("R3: an endpoint cannot take a default pool contact's URI", () => {
    given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: defaultContactOf('pcpool.contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') })
      .thenThrows('SIP_ADDRESS_IN_USE', { rule: 'R3' });
  });

  it('R3: a second endpoint cannot take the same URI, even on another pool', () => {
    given(seed, persistentChatPoolInstalled('pcpool2.contoso.com', ['pc5.contoso.com']), endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com'))
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('pcpool2.contoso.com') })
      .thenThrows('SIP_ADDRESS_IN_USE', { rule: 'R3' });
  });

  it('R3: a legacy pool cannot adopt an address someone else owns as its well-known user', () => {
    given(contoso, principalRegistered('sip:ocschat@contoso.com', 'user', 'Chat Service'))
      .when({ type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'OCS2007R2', wellKnownSipAddress: sip('sip:ocschat@contoso.com') })
      .thenThrows('SIP_ADDRESS_IN_USE', { rule: 'R3', field: 'wellKnownSipAddress' });
  });

  it("R3: a pool cannot be installed when its default contact's address is taken", () => {
    given(contoso, principalRegistered(defaultContactOf('pcpool.contoso.com')))
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com') })
      .thenThrows('SIP_ADDRESS_IN_USE', { rule: 'R3' });
  });

  it('R3: ownerOf names the owner of each kind of address, and nothing for a free one', () => {
    const state = foldTopology([...seed, principalRegistered('sip:alice@contoso.com'), endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')]);
    expect(ownerOf(state, sip('sip:alice@contoso.com'))).toMatchObject({ kind: 'principal', principal: { kind: 'user' } });
    expect(ownerOf(state, sip('sip:ocschat@contoso.com'))).toMatchObject({ kind: 'principal', principal: { kind: 'wellKnownUser' } });
    expect(ownerOf(state, sip('sip:persistentchat@contoso.com'))).toMatchObject({ kind: 'endpoint' });
    expect(ownerOf(state, defaultContactOf('pcpool.contoso.com'))).toMatchObject({ kind: 'defaultPoolContact', poolFqdn: 'pcpool.contoso.com' });
    expect(ownerOf(state, sip('sip:bob@contoso.com'))).toBeUndefined();
  });

  it('R3: deleting a principal releases its address and records what a compensation needs', () => {
    given(contoso, principalRegistered('sip:alice@contoso.com', 'user', 'Alice'))
      .when({ type: 'DeleteSipPrincipal', sipAddress: sip('sip:alice@contoso.com'), reason: 'left the company' })
      .then([
        {
          type: 'SipPrincipalDeleted',
          data: { sipAddress: sip('sip:alice@contoso.com'), kind: 'user', displayName: 'Alice', legacyPoolFqdn: null, reason: 'left the company' },
        },
      ]);
  });

  it('R3: DeleteSipPrincipal does not remove endpoints or default pool contacts', () => {
    given(seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com'))
      .when({ type: 'DeleteSipPrincipal', sipAddress: sip('sip:persistentchat@contoso.com'), reason: 'x' })
      .thenThrows('SIP_PRINCIPAL_NOT_DELETABLE', { category: 'conflict' });
    given(seed)
      .when({ type: 'DeleteSipPrincipal', sipAddress: sip('sip:nobody@contoso.com'), reason: 'x' })
      .thenThrows('SIP_PRINCIPAL_NOT_FOUND', { category: 'not_found' });
  });
});

describe('R4: an endpoint points at an existing Persistent Chat pool', () => {
  it('R4: a pool that does not exist is refused', () => {
    given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('nopool.contoso.com') })
      .thenThrows(PoolNotFound, { rule: 'R4', category: 'not_found', field: 'persistentChatPoolFqdn' });
  });

  it('R4: a legacy Group Chat pool is refused', () => {
    given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('gc.contoso.com') })
      .thenThrows(PoolNotPersistentChat, { rule: 'R4', field: 'persistentChatPoolFqdn' });
  });

  it('R4: a removed pool is refused', () => {
    given(contoso, pcpool, persistentChatPoolRemoved('pcpool.contoso.com'))
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') })
      .thenThrows('POOL_NOT_FOUND', { rule: 'R4' });
  });

  it('R4: an installed pool that is not started yet accepts an endpoint (the migration creates it before starting the pool)', () => {
    given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), displayName: ' Persistent Chat ' })
      .then([endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com', 'Persistent Chat')]);
  });
});

describe('R5: there is no command that changes an endpoint', () => {
  it('R5: no Set- or Update- command for endpoints exists', () => {
    type EndpointChange = Extract<TopologyCommand['type'], `Set${string}Endpoint${string}` | `Update${string}`>;
    const none: [EndpointChange] extends [never] ? true : false = true;
    expect(none).toBe(true);
  });

  it('R5: to move an endpoint to another pool, remove it and create it again', () => {
    const history = [...seed, persistentChatPoolInstalled('pcpool2.contoso.com', ['pc5.contoso.com']), endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')];
    const removal = decide({ type: 'RemoveEndpoint', identity: 'sip:persistentchat@contoso.com', reason: 'move to pcpool2' }, foldTopology(history));
    given(history, removal.events)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('pcpool2.contoso.com') })
      .then([endpointCreated('sip:persistentchat@contoso.com', 'pcpool2.contoso.com')]);
  });
});

describe('R6: -Identity is a SIP address, a display name or a distinguished name', () => {
  const endpoints = [
    ...seed,
    persistentChatPoolInstalled('pcpool2.contoso.com', ['pc5.contoso.com']),
    endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com', 'Persistent Chat'),
    endpointCreated('sip:chat-east@contoso.com', 'pcpool2.contoso.com', 'Legacy Chat'),
    endpointCreated('sip:chat-west@contoso.com', 'pcpool.contoso.com', 'legacy chat'),
  ];
  const removedPersistentChat: TopologyEvent = {
    type: 'PersistentChatEndpointRemoved',
    data: {
      sipAddress: sip('sip:persistentchat@contoso.com'),
      poolFqdn: fqdn('pcpool.contoso.com'),
      displayName: 'Persistent Chat',
      distinguishedName: endpointDistinguishedName(sip('sip:persistentchat@contoso.com')),
      reason: 'CHG-7',
    },
  };

  it('R6: by SIP address, and the removal carries what re-creating the endpoint needs', () => {
    given(endpoints).when({ type: 'RemoveEndpoint', identity: 'sip:persistentchat@contoso.com', reason: 'CHG-7' }).then([removedPersistentChat]);
  });

  it('R6: by display name', () => {
    given(endpoints).when({ type: 'RemoveEndpoint', identity: 'persistent chat', reason: 'CHG-7' }).then([removedPersistentChat]);
  });

  it('R6: by distinguished name', () => {
    const dn = endpointDistinguishedName(sip('sip:persistentchat@contoso.com'));
    expect(dn).toMatch(/^CN=persistentchat@contoso\.com,CN=Application Contacts,CN=RTC Service,.*DC=contoso,DC=com$/);
    given(endpoints).when({ type: 'RemoveEndpoint', identity: dn.toLowerCase(), reason: 'CHG-7' }).then([removedPersistentChat]);
  });

  it("R6: a contact created with its objectGUID has Lync's GUID-based DN in the forest, found with or without spaces after the commas", () => {
    const guid = '33e5014b-dcba-46b5-9bf7-48f4d5fca69d';
    const dn = `CN={${guid}},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=contoso,DC=com`;
    const created = decide({ type: 'CreateEndpoint', sipAddress: sip('sip:pce@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), objectGuid: guid }, foldTopology(seed)).events;
    expect(created).toEqual([{ type: 'PersistentChatEndpointCreated', data: { sipAddress: 'sip:pce@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: null, distinguishedName: dn } }]);
    // The reference's own form of the identity, with a space after the first comma.
    const documented = `CN={${guid.toUpperCase()}}, CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=contoso,DC=com`;
    given([...seed, ...created])
      .when({ type: 'RemoveEndpoint', identity: documented, reason: 'CHG-7' })
      .then([{ type: 'PersistentChatEndpointRemoved', data: { ...created[0]!.data, reason: 'CHG-7' } } as TopologyEvent]);
    // An objectGUID is one contact's: a second endpoint with it is refused.
    given([...seed, ...created])
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:other@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), objectGuid: guid })
      .thenThrows('OBJECT_GUID_IN_USE', { category: 'conflict', field: 'objectGuid' });
  });

  it('R6: events stored before objectGUIDs (DN derived from the SIP address) still replay and resolve', () => {
    given(endpoints).when({ type: 'RemoveEndpoint', identity: endpointDistinguishedName(sip('sip:persistentchat@contoso.com')).replace(/,/g, ', '), reason: 'CHG-7' }).then([removedPersistentChat]);
  });

  it('R6: a display name matching several endpoints is an error listing them', () => {
    const error = given(endpoints)
      .when({ type: 'RemoveEndpoint', identity: 'Legacy Chat', reason: 'CHG-7' })
      .thenThrows(AmbiguousIdentity, { rule: 'R6', field: 'identity' });
    expect(error.code).toBe('AMBIGUOUS_IDENTITY');
    expect(error.details['matches']).toEqual([
      expect.objectContaining({ sipAddress: 'sip:chat-east@contoso.com', poolFqdn: 'pcpool2.contoso.com' }),
      expect.objectContaining({ sipAddress: 'sip:chat-west@contoso.com', poolFqdn: 'pcpool.contoso.com' }),
    ]);
    expect(error.message).toContain('sip:chat-east@contoso.com');
    expect(error.message).toContain('sip:chat-west@contoso.com');
  });

  it('R6: an identity matching nothing is not found; an address without its prefix gets a hint', () => {
    given(endpoints)
      .when({ type: 'RemoveEndpoint', identity: 'Nobody', reason: 'CHG-7' })
      .thenThrows(EndpointNotFound, { rule: 'R6', category: 'not_found', field: 'identity' });
    const error = given(endpoints)
      .when({ type: 'RemoveEndpoint', identity: 'persistentchat@contoso.com', reason: 'CHG-7' })
      .thenThrows('ENDPOINT_NOT_FOUND', { rule: 'R6' });
    expect(error.details['hint']).toBe('sip:persistentchat@contoso.com');
  });

  it('R6: an address owned by something other than an endpoint is not an endpoint', () => {
    const error = given(endpoints)
      .when({ type: 'RemoveEndpoint', identity: 'sip:ocschat@contoso.com', reason: 'CHG-7' })
      .thenThrows('ENDPOINT_NOT_FOUND', { rule: 'R6' });
    expect(error.details['owner']).toMatchObject({ kind: 'wellKnownUser' });
  });
});

describe('R7: installing a Persistent Chat pool creates its default pool contact', () => {
  it('R7: the pool is installed with a deterministic default contact in the default SIP domain', () => {
    given(contoso)
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com') })
      .then([pcpool]);
    expect(defaultContactOf('pcpool.contoso.com')).toBe('sip:pc-default-pcpool-contoso-com@contoso.com');
    expect(ownerOf(foldTopology([contoso, pcpool]), defaultContactOf('pcpool.contoso.com'))).toMatchObject({ kind: 'defaultPoolContact' });
  });

  it('R7: a deployment without a SIP domain cannot install a pool', () => {
    given()
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com') })
      .thenThrows('NO_DEFAULT_SIP_DOMAIN', { rule: 'R7', category: 'conflict' });
  });

  it('R7: the default contact is not a legacy endpoint: the first endpoint brings no R8 warning', () => {
    given(seed)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:persistentchat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') })
      .thenAcceptedWithoutWarnings();
  });

  it('R7: the default contact goes away with its pool', () => {
    const removal = decide({ type: 'RemovePersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), reason: 'retired' }, foldTopology([contoso, pcpool]));
    const after = foldTopology([contoso, pcpool, ...removal.events]);
    expect(ownerOf(after, defaultContactOf('pcpool.contoso.com'))).toBeUndefined();
    given(contoso, pcpool)
      .when({ type: 'DeleteSipPrincipal', sipAddress: defaultContactOf('pcpool.contoso.com'), reason: 'x' })
      .thenThrows('SIP_PRINCIPAL_NOT_DELETABLE');
  });
});

describe('R8: one endpoint per pool is enough', () => {
  const withOne = [...seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')];

  it('R8: a second legacy endpoint on the same pool is allowed, with a warning', () => {
    const decision = given(withOne)
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:groupchat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') })
      .thenWarns('ADDITIONAL_ENDPOINT_FOR_POOL', 'R8');
    expect(decision.events).toEqual([endpointCreated('sip:groupchat@contoso.com', 'pcpool.contoso.com')]);
    expect(decision.warnings[0]?.message).toContain('policy');
  });

  it('R8: an endpoint on another pool brings no warning', () => {
    given(withOne, persistentChatPoolInstalled('pcpool2.contoso.com', ['pc5.contoso.com']))
      .when({ type: 'CreateEndpoint', sipAddress: sip('sip:groupchat@contoso.com'), poolFqdn: fqdn('pcpool2.contoso.com') })
      .thenAcceptedWithoutWarnings();
  });
});

describe('R9: a pool that still has endpoints cannot be removed', () => {
  it('R9: the removal is refused and lists the endpoints', () => {
    const error = given(seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com', 'Persistent Chat'))
      .when({ type: 'RemovePersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), reason: 'retired' })
      .thenThrows(PoolHasEndpoints, { rule: 'R9', category: 'conflict' });
    expect(error.code).toBe('POOL_HAS_ENDPOINTS');
    expect(error.details['endpoints']).toEqual([expect.objectContaining({ sipAddress: 'sip:persistentchat@contoso.com', displayName: 'Persistent Chat' })]);
  });

  it('R9: a pool without endpoints is removed, the event carrying the whole pool', () => {
    given(seed)
      .when({ type: 'RemovePersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), reason: 'retired' })
      .then([
        {
          type: 'PersistentChatPoolRemoved',
          data: {
            fqdn: fqdn('pcpool.contoso.com'),
            servers: fqdns('pc1.contoso.com', 'pc2.contoso.com'),
            activeServers: fqdns('pc1.contoso.com', 'pc2.contoso.com'),
            site: null,
            complianceEnabled: false,
            singleServer: false,
            databaseInstance: null,
            defaultContactSipAddress: defaultContactOf('pcpool.contoso.com'),
            poolState: 'Normal',
            status: 'Installed',
            reason: 'retired',
          },
        },
      ]);
  });
});

describe('R10: at most 4 active and 8 servers; a single-computer pool cannot grow', () => {
  const eight = ['pc1', 'pc2', 'pc3', 'pc4', 'pc5', 'pc6', 'pc7', 'pc8'].map((name) => `${name}.contoso.com`);

  it('R10: at install the first four servers are active', () => {
    const decision = given(contoso)
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns(...eight), site: 'Redmond', complianceEnabled: true })
      .thenAcceptedWithoutWarnings();
    expect(decision.events[0]).toMatchObject({
      data: { servers: eight, activeServers: eight.slice(0, 4), site: 'Redmond', complianceEnabled: true },
    });
  });

  it('R10: a pool of nine servers is refused as input', () => {
    given(contoso)
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns(...eight, 'pc9.contoso.com') })
      .thenThrows(TooManyServers, { rule: 'R10', category: 'invalid', field: 'servers' });
  });

  it('R10: a ninth server cannot be added', () => {
    given(contoso, persistentChatPoolInstalled('pcpool.contoso.com', eight))
      .when({ type: 'AddPersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc9.contoso.com') })
      .thenThrows('TOO_MANY_SERVERS', { rule: 'R10', category: 'conflict' });
  });

  it('R10: a server joins inactive', () => {
    given(seed)
      .when({ type: 'AddPersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc3.contoso.com') })
      .then([serverAdded('pcpool.contoso.com', 'pc3.contoso.com')]);
    const state = foldTopology([...seed, serverAdded('pcpool.contoso.com', 'pc3.contoso.com')]);
    expect(state.persistentChatPools.get(fqdn('pcpool.contoso.com'))?.activeServers).toEqual(fqdns('pc1.contoso.com', 'pc2.contoso.com'));
  });

  it('R10: a pool installed on a single computer cannot gain servers', () => {
    given(contoso)
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pc1.contoso.com'), servers: fqdns('pc1.contoso.com', 'pc2.contoso.com'), singleServer: true })
      .thenThrows('TOO_MANY_SERVERS', { rule: 'R10', category: 'invalid' });
    given(contoso, persistentChatPoolInstalled('pc1.contoso.com', ['pc1.contoso.com'], { singleServer: true }))
      .when({ type: 'AddPersistentChatServer', poolFqdn: fqdn('pc1.contoso.com'), serverFqdn: fqdn('pc2.contoso.com') })
      .thenThrows('SINGLE_SERVER_POOL', { rule: 'R10', category: 'conflict' });
  });

  it('R10: no more than four servers can be active', () => {
    given(contoso, persistentChatPoolInstalled('pcpool.contoso.com', eight))
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: fqdn('pcpool.contoso.com'), change: { kind: 'add', servers: fqdns('pc5.contoso.com') } })
      .thenThrows(TooManyActiveServers, { rule: 'R10', category: 'conflict' });
    given(contoso, persistentChatPoolInstalled('pcpool.contoso.com', eight))
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: fqdn('pcpool.contoso.com'), change: { kind: 'replace', servers: fqdns(...eight.slice(0, 5)) } })
      .thenThrows(TooManyActiveServers, { rule: 'R10', category: 'invalid' });
  });

  it('R10: a computer belongs to one pool, and a pool FQDN to one pool', () => {
    given(seed)
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool2.contoso.com'), servers: fqdns('pc2.contoso.com') })
      .thenThrows('FQDN_IN_USE', { category: 'conflict', field: 'servers' });
    given(seed)
      .when({ type: 'AddPersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('gc.contoso.com') })
      .thenThrows('FQDN_IN_USE', { field: 'serverFqdn' });
    given(seed)
      .when({ type: 'AddPersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc2.contoso.com') })
      .thenThrows('SERVER_ALREADY_IN_POOL');
    given(seed)
      .when({ type: 'InstallPersistentChatPool', fqdn: fqdn('pc1.contoso.com'), servers: fqdns('pc9.contoso.com') })
      .thenThrows('FQDN_IN_USE', { field: 'fqdn' });
  });

  it('R10: removing a server needs a reason, and is refused for an active or the last server', () => {
    const three = [contoso, persistentChatPoolInstalled('pcpool.contoso.com', ['pc1.contoso.com']), serverAdded('pcpool.contoso.com', 'pc2.contoso.com')];
    given(three)
      .when({ type: 'RemovePersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc2.contoso.com'), reason: 'hardware refresh' })
      .then([{ type: 'PersistentChatServerRemoved', data: { poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc2.contoso.com'), reason: 'hardware refresh' } }]);
    given(three)
      .when({ type: 'RemovePersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc1.contoso.com'), reason: 'x' })
      .thenThrows('SERVER_IS_ACTIVE', { rule: 'R12' });
    given(three)
      .when({ type: 'RemovePersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc7.contoso.com'), reason: 'x' })
      .thenThrows('SERVER_NOT_FOUND', { category: 'not_found' });
    const deactivated: TopologyEvent = {
      type: 'PersistentChatActiveServersChanged',
      data: { poolFqdn: fqdn('pcpool.contoso.com'), change: 'clear', activeServers: [], previousActiveServers: fqdns('pc1.contoso.com') },
    };
    given(contoso, persistentChatPoolInstalled('pcpool.contoso.com', ['pc1.contoso.com']), deactivated)
      .when({ type: 'RemovePersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc1.contoso.com'), reason: 'x' })
      .thenThrows('LAST_SERVER_OF_POOL', { category: 'conflict' });
  });
});

describe('R11: pool state is Normal or FailedOver', () => {
  it('R11: a pool fails over to its backup databases and back', () => {
    const failedOver: TopologyEvent = {
      type: 'PersistentChatStateChanged',
      data: { poolFqdn: fqdn('pcpool.contoso.com'), poolState: 'FailedOver', previousPoolState: 'Normal' },
    };
    given(seed).when({ type: 'SetPersistentChatState', poolFqdn: fqdn('pcpool.contoso.com'), poolState: 'FailedOver' }).then([failedOver]);
    given(seed, failedOver)
      .when({ type: 'SetPersistentChatState', poolFqdn: fqdn('pcpool.contoso.com'), poolState: 'Normal' })
      .then([{ type: 'PersistentChatStateChanged', data: { poolFqdn: fqdn('pcpool.contoso.com'), poolState: 'Normal', previousPoolState: 'FailedOver' } }]);
  });

  it('R11: setting the state the pool already has is refused', () => {
    given(seed)
      .when({ type: 'SetPersistentChatState', poolFqdn: fqdn('pcpool.contoso.com'), poolState: 'Normal' })
      .thenThrows('PERSISTENT_CHAT_STATE_UNCHANGED', { rule: 'R11', category: 'conflict' });
  });

  it('R11: only Persistent Chat pools have that state', () => {
    given(seed)
      .when({ type: 'SetPersistentChatState', poolFqdn: fqdn('gc.contoso.com'), poolState: 'FailedOver' })
      .thenThrows('POOL_NOT_PERSISTENT_CHAT', { field: 'poolFqdn' });
  });
});

describe('R12: active servers are servers of the pool', () => {
  const pool = fqdn('pcpool.contoso.com');
  // pc1, pc2 active; pc3, pc4 idle.
  const fourServers = [
    contoso,
    persistentChatPoolInstalled('pcpool.contoso.com', ['pc1.contoso.com', 'pc2.contoso.com']),
    serverAdded('pcpool.contoso.com', 'pc3.contoso.com'),
    serverAdded('pcpool.contoso.com', 'pc4.contoso.com'),
  ];
  const changed = (change: 'add' | 'remove' | 'replace' | 'clear' | 'swap', active: string[], previous: string[]): TopologyEvent => ({
    type: 'PersistentChatActiveServersChanged',
    data: { poolFqdn: pool, change, activeServers: fqdns(...active), previousActiveServers: fqdns(...previous) },
  });

  it('R12: @{Add=} activates a server of the pool', () => {
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'add', servers: fqdns('pc3.contoso.com') } })
      .then([changed('add', ['pc1.contoso.com', 'pc2.contoso.com', 'pc3.contoso.com'], ['pc1.contoso.com', 'pc2.contoso.com'])]);
  });

  it('R12: @{Remove=} deactivates one', () => {
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'remove', servers: fqdns('pc1.contoso.com') } })
      .then([changed('remove', ['pc2.contoso.com'], ['pc1.contoso.com', 'pc2.contoso.com'])]);
  });

  it('R12: a replacement set, and $Null clearing all', () => {
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'replace', servers: fqdns('pc4.contoso.com', 'pc3.contoso.com') } })
      .then([changed('replace', ['pc3.contoso.com', 'pc4.contoso.com'], ['pc1.contoso.com', 'pc2.contoso.com'])]);
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'clear' } })
      .then([changed('clear', [], ['pc1.contoso.com', 'pc2.contoso.com'])]);
  });

  it('R12: -Swap exchanges active and idle servers', () => {
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'swap' } })
      .then([changed('swap', ['pc3.contoso.com', 'pc4.contoso.com'], ['pc1.contoso.com', 'pc2.contoso.com'])]);
  });

  it('R12: a swap that would activate more than four servers is refused (R10 still holds)', () => {
    const sixIdle = [
      contoso,
      persistentChatPoolInstalled('pcpool.contoso.com', ['pc1.contoso.com']),
      ...['pc2', 'pc3', 'pc4', 'pc5', 'pc6'].map((name) => serverAdded('pcpool.contoso.com', `${name}.contoso.com`)),
    ];
    given(sixIdle)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'swap' } })
      .thenThrows('TOO_MANY_ACTIVE_SERVERS', { rule: 'R10', field: 'swap' });
  });

  it('R12: only servers of the pool can be active', () => {
    const error = given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'add', servers: fqdns('pc9.contoso.com') } })
      .thenThrows('SERVER_NOT_IN_POOL', { rule: 'R12', field: 'add' });
    expect(error.details['serverFqdns']).toEqual(['pc9.contoso.com']);
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'replace', servers: fqdns('pc1.contoso.com', 'pc9.contoso.com') } })
      .thenThrows('SERVER_NOT_IN_POOL', { rule: 'R12', field: 'replace' });
  });

  it('R12: a change that changes nothing is refused, naming the current state', () => {
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'add', servers: fqdns('pc1.contoso.com') } })
      .thenThrows('SERVER_ALREADY_ACTIVE', { rule: 'R12' });
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'remove', servers: fqdns('pc3.contoso.com') } })
      .thenThrows('SERVER_NOT_ACTIVE', { rule: 'R12' });
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'replace', servers: fqdns('pc2.contoso.com', 'pc1.contoso.com') } })
      .thenThrows('ACTIVE_SERVERS_UNCHANGED', { rule: 'R12' });
    given(fourServers)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'add', servers: [] } })
      .thenThrows('SERVERS_REQUIRED', { category: 'invalid', field: 'add' });
  });

  it('R12: a started pool left without an active server is allowed, with a warning', () => {
    given(fourServers, poolStarted('pcpool.contoso.com'))
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: pool, change: { kind: 'clear' } })
      .thenWarns('NO_ACTIVE_SERVERS', 'R12');
  });
});

describe('R13: capacity guidance warns, never refuses', () => {
  const users = (count: number, domain = 'contoso.com'): TopologyEvent[] =>
    Array.from({ length: count }, (_, index) => principalRegistered(`sip:user${index}@${domain}`));

  it('R13: the 150,001st provisioned user is registered with a warning', () => {
    const decision = given(contoso, users(150_000))
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:one-too-many@contoso.com'), kind: 'user' })
      .thenWarns('PROVISIONED_USERS_OVER_GUIDANCE', 'R13');
    expect(decision.events).toHaveLength(1);
  });

  it('R13: more users than 20,000 per active server warns', () => {
    const state = foldTopology([contoso, pcpool, ...users(20_000)]);
    expect(state.userCount).toBe(20_000);
    givenState(state)
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:one-too-many@contoso.com'), kind: 'user' })
      .thenWarns('ACTIVE_SERVER_CAPACITY_EXCEEDED', 'R13');
    givenState(state)
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:room-resource@contoso.com'), kind: 'contact' })
      .thenAcceptedWithoutWarnings();
  });

  it('R13: taking servers out of service below the guidance warns', () => {
    const state = foldTopology([contoso, persistentChatPoolInstalled('pcpool.contoso.com', ['pc1.contoso.com', 'pc2.contoso.com']), ...users(30_000)]);
    givenState(state)
      .when({ type: 'SetPersistentChatActiveServers', poolFqdn: fqdn('pcpool.contoso.com'), change: { kind: 'remove', servers: fqdns('pc2.contoso.com') } })
      .thenWarns('ACTIVE_SERVER_CAPACITY_EXCEEDED', 'R13');
  });

  it('R13: without a Persistent Chat pool there is no chat capacity to exceed', () => {
    given(contoso, users(10))
      .when({ type: 'RegisterSipPrincipal', sipAddress: sip('sip:alice@contoso.com'), kind: 'user' })
      .thenAcceptedWithoutWarnings();
  });
});

describe('R14: pool life cycle', () => {
  const pc = fqdn('pcpool.contoso.com');
  const gc = fqdn('gc.contoso.com');

  it('R14: a Persistent Chat pool goes Installed → Started ⇄ Stopped', () => {
    given(seed).when({ type: 'StartPool', fqdn: pc }).then([poolStarted('pcpool.contoso.com')]);
    given(seed, poolStarted('pcpool.contoso.com')).when({ type: 'StopPool', fqdn: pc }).then([poolStopped('pcpool.contoso.com')]);
    given(seed, poolStarted('pcpool.contoso.com'), poolStopped('pcpool.contoso.com'))
      .when({ type: 'StartPool', fqdn: pc })
      .then([poolStarted('pcpool.contoso.com', 'persistentChat', 'Stopped')]);
  });

  it('R14: a command out of order is refused with the state it needs', () => {
    const error = given(seed, poolStarted('pcpool.contoso.com'))
      .when({ type: 'StartPool', fqdn: pc })
      .thenThrows(PoolStateInvalid, { rule: 'R14', category: 'conflict', field: 'fqdn' });
    expect(error.details).toMatchObject({ state: 'Started', requiredStates: ['Installed', 'Stopped'], field: 'fqdn' });
    given(seed).when({ type: 'StopPool', fqdn: pc }).thenThrows('POOL_STATE_INVALID', { rule: 'R14', field: 'fqdn' });
  });

  it('R14: a started Persistent Chat pool cannot be removed', () => {
    const error = given(seed, poolStarted('pcpool.contoso.com'))
      .when({ type: 'RemovePersistentChatPool', fqdn: pc, reason: 'retired' })
      .thenThrows('POOL_STATE_INVALID', { rule: 'R14', field: 'fqdn' });
    expect(error.message).toContain('Installed or Stopped');
  });

  it('R14: a legacy pool is defined running, stops, starts again, and is decommissioned only when stopped', () => {
    given(seed).when({ type: 'StartPool', fqdn: gc }).thenThrows('POOL_STATE_INVALID', { rule: 'R14' });
    given(seed).when({ type: 'StopPool', fqdn: gc }).then([poolStopped('gc.contoso.com', 'legacyGroupChat')]);
    given(seed, poolStopped('gc.contoso.com', 'legacyGroupChat'))
      .when({ type: 'StartPool', fqdn: gc })
      .then([{ type: 'PoolStarted', data: { fqdn: gc, poolKind: 'legacyGroupChat', previousStatus: 'Stopped' } }]);
    given(seed, wellKnownUserDeleted('sip:ocschat@contoso.com', 'gc.contoso.com'))
      .when({ type: 'DecommissionLegacyPool', fqdn: gc, reason: 'migrated' })
      .thenThrows('POOL_STATE_INVALID', { rule: 'R14' });
  });

  it('R14: a decommissioned legacy pool cannot start again', () => {
    const decommissioned: TopologyEvent = {
      type: 'LegacyGroupChatPoolDecommissioned',
      data: { fqdn: gc, version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com'), dataMigratedTo: null, reason: 'done' },
    };
    given(seed, poolStopped('gc.contoso.com', 'legacyGroupChat'), decommissioned)
      .when({ type: 'StartPool', fqdn: gc })
      .thenThrows('POOL_STATE_INVALID', { rule: 'R14' });
  });

  it('R14: starting an unknown pool is not found', () => {
    given(seed).when({ type: 'StartPool', fqdn: fqdn('nopool.contoso.com') }).thenThrows('POOL_NOT_FOUND', { category: 'not_found' });
  });

  it('R14: starting a pool with no active server warns (R12)', () => {
    const cleared: TopologyEvent = {
      type: 'PersistentChatActiveServersChanged',
      data: { poolFqdn: pc, change: 'clear', activeServers: [], previousActiveServers: fqdns('pc1.contoso.com', 'pc2.contoso.com') },
    };
    given(seed, cleared).when({ type: 'StartPool', fqdn: pc }).thenWarns('NO_ACTIVE_SERVERS', 'R12');
  });
});

describe('R15: a legacy pool is reached through its well-known user; its version is fixed', () => {
  const gc = fqdn('gc.contoso.com');

  it('R15: defining a legacy pool creates its well-known user, routing to it', () => {
    given(contoso)
      .when({ type: 'DefineLegacyGroupChatPool', fqdn: gc, version: 'OCS2007R2', wellKnownSipAddress: sip('sip:OCSChat@contoso.com') })
      .then(legacyPoolDefined('gc.contoso.com', 'sip:ocschat@contoso.com', 'OCS2007R2'));
    const state = foldTopology([contoso, ...legacyPoolDefined('gc.contoso.com', 'sip:ocschat@contoso.com', 'OCS2007R2')]);
    expect(state.legacyPools.get(gc)).toMatchObject({ version: 'OCS2007R2', status: 'Started', dataMigratedTo: null });
    expect(state.principals.get(sip('sip:ocschat@contoso.com'))).toMatchObject({ kind: 'wellKnownUser', legacyPoolFqdn: 'gc.contoso.com' });
  });

  it('R15: the services run on the pool computer unless named', () => {
    const decision = given(contoso)
      .when({
        type: 'DefineLegacyGroupChatPool',
        fqdn: gc,
        version: 'Lync2010',
        wellKnownSipAddress: sip('sip:ocschat@contoso.com'),
        services: { channel: fqdn('gc-channel.contoso.com'), compliance: fqdn('gc-compliance.contoso.com') },
        databaseInstance: 'sql01.contoso.com\\gc',
      })
      .thenAcceptedWithoutWarnings();
    expect(decision.events[0]).toMatchObject({
      data: {
        services: { lookup: 'gc.contoso.com', channel: 'gc-channel.contoso.com', web: null, compliance: 'gc-compliance.contoso.com' },
        databaseInstance: 'sql01.contoso.com\\gc',
      },
    });
  });

  it('R15: pool FQDNs are unique across both kinds of pool', () => {
    given(seed)
      .when({ type: 'DefineLegacyGroupChatPool', fqdn: fqdn('pcpool.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:gc2@contoso.com') })
      .thenThrows('POOL_ALREADY_EXISTS', { category: 'conflict', field: 'fqdn' });
    given(seed)
      .when({ type: 'InstallPersistentChatPool', fqdn: gc, servers: fqdns('pc9.contoso.com') })
      .thenThrows('POOL_ALREADY_EXISTS');
  });

  it('R15: a legacy pool cannot be decommissioned while its well-known user routes clients to it and no migration moved its data', () => {
    const error = given(seed, poolStopped('gc.contoso.com', 'legacyGroupChat'))
      .when({ type: 'DecommissionLegacyPool', fqdn: gc, reason: 'end of life' })
      .thenThrows('LEGACY_POOL_STILL_IN_USE', { rule: 'R15', category: 'conflict' });
    expect(error.message).toContain('sip:ocschat@contoso.com');
  });

  it('R16: a legacy pool whose data moved to a pool that does not serve yet cannot be decommissioned (it would end the rollback)', () => {
    const state = foldTopology([...seed, poolStopped('gc.contoso.com', 'legacyGroupChat')]);
    const legacy = state.legacyPools.get(gc);
    if (!legacy) throw new Error('gc.contoso.com missing');
    const migrated = { ...state, legacyPools: new Map([[gc, { ...legacy, dataMigratedTo: fqdn('pcpool.contoso.com') }]]) };
    givenState(migrated).when({ type: 'DecommissionLegacyPool', fqdn: gc, reason: 'too early' }).thenThrows('MIGRATED_DATA_NOT_SERVED', { rule: 'R16' });
  });

  it('R15: once its data has moved and is served, a stopped legacy pool can be decommissioned', () => {
    const state = foldTopology([...seed, poolStopped('gc.contoso.com', 'legacyGroupChat'), poolStarted('pcpool.contoso.com')]);
    const legacy = state.legacyPools.get(gc);
    if (!legacy) throw new Error('gc.contoso.com missing');
    const migrated = { ...state, legacyPools: new Map([[gc, { ...legacy, dataMigratedTo: fqdn('pcpool.contoso.com') }]]) };
    givenState(migrated)
      .when({ type: 'DecommissionLegacyPool', fqdn: gc, reason: 'migrated in CHG-1042' })
      .then([
        {
          type: 'LegacyGroupChatPoolDecommissioned',
          data: {
            fqdn: gc,
            version: 'Lync2010',
            wellKnownSipAddress: sip('sip:ocschat@contoso.com'),
            dataMigratedTo: fqdn('pcpool.contoso.com'),
            reason: 'migrated in CHG-1042',
          },
        },
      ]);
  });

  it('R15: once its well-known user is gone, a stopped legacy pool can be decommissioned', () => {
    given(seed, poolStopped('gc.contoso.com', 'legacyGroupChat'), wellKnownUserDeleted('sip:ocschat@contoso.com', 'gc.contoso.com'))
      .when({ type: 'DecommissionLegacyPool', fqdn: gc, reason: 'end of life' })
      .thenAcceptedWithoutWarnings();
  });

  it('R15: deleting the well-known user of a running legacy pool warns that its clients lose it', () => {
    const decision = given(seed)
      .when({ type: 'DeleteSipPrincipal', sipAddress: sip('sip:ocschat@contoso.com'), reason: 'migration' })
      .thenWarns('LEGACY_POOL_UNREACHABLE', 'R15');
    expect(decision.events).toEqual([wellKnownUserDeleted('sip:ocschat@contoso.com', 'gc.contoso.com', 'migration')]);
    given(seed, poolStopped('gc.contoso.com', 'legacyGroupChat'))
      .when({ type: 'DeleteSipPrincipal', sipAddress: sip('sip:ocschat@contoso.com'), reason: 'migration' })
      .thenAcceptedWithoutWarnings();
  });

  it('R15: decommissioning a Persistent Chat pool is refused: it is not a legacy pool, a conflict with the topology (409)', () => {
    given(seed)
      .when({ type: 'DecommissionLegacyPool', fqdn: fqdn('pcpool.contoso.com'), reason: 'x' })
      .thenThrows('POOL_NOT_LEGACY_GROUP_CHAT', { category: 'conflict' });
  });
});

describe('R21: every removal and decommission records why it was made', () => {
  const withEndpoint = [...seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')];
  const commands: TopologyCommand[] = [
    { type: 'RemoveEndpoint', identity: 'sip:persistentchat@contoso.com' },
    { type: 'RemovePersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), reason: '  ' },
    { type: 'DecommissionLegacyPool', fqdn: fqdn('gc.contoso.com') },
    { type: 'DeleteSipPrincipal', sipAddress: sip('sip:ocschat@contoso.com') },
    { type: 'RemoveSipDomain', domain: fqdn('contoso.com') },
    { type: 'RemovePersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc2.contoso.com') },
  ];

  it.each(commands.map((command) => [command.type, command] as const))('R21: %s without a reason is refused as invalid input', (_type, command) => {
    const error = given(withEndpoint).when(command).thenThrows(ReasonRequired, { category: 'invalid', field: 'reason' });
    expect(error.code).toBe('REASON_REQUIRED');
  });
});

describe('events', () => {
  it("every event's data is a JSON object the event store accepts as it is", () => {
    const dataOf = (event: TopologyEvent): JsonObject => event.data;
    for (const event of [...seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')]) {
      expect(JSON.parse(JSON.stringify(dataOf(event)))).toEqual(event.data);
    }
  });
});

describe('evolve', () => {
  it('never changes the state it is given', () => {
    const before = foldTopology([...seed, endpointCreated('sip:persistentchat@contoso.com', 'pcpool.contoso.com')]);
    const copy = snapshot(before);
    const after = evolve(before, serverAdded('pcpool.contoso.com', 'pc3.contoso.com'));
    evolve(after, wellKnownUserDeleted('sip:ocschat@contoso.com', 'gc.contoso.com'));
    evolve(after, persistentChatPoolRemoved('pcpool.contoso.com'));
    expect(snapshot(before)).toEqual(copy);
    expect(after.persistentChatPools.get(fqdn('pcpool.contoso.com'))?.servers).toHaveLength(3);
  });

  it('folds from the empty topology', () => {
    expect(snapshot(foldTopology([]))).toEqual(snapshot(initialState()));
  });
});
