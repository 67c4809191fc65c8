import { Refusal } from '../../src/common/refusal';
import { type AdminCommandType, commandNames, parseCommandBody, parseCommandBodySync, COMMANDS } from '../../src/application/commands/command-registry';
import { closestName, InvalidInput, UnknownCommand } from '../../src/application/commands/input-errors';
import { CommandDto } from '../../src/application/commands/topology-command.dtos';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// A Record over the union: adding a command without listing it here fails to compile. The commands
// only a migration issues (ImportLegacyPoolData, ...) are not in it: no route accepts them.
const ALL_COMMAND_TYPES: Record<AdminCommandType, true> = {
  RegisterSipDomain: true,
  SetDefaultSipDomain: true,
  RemoveSipDomain: true,
  RegisterSipPrincipal: true,
  DeleteSipPrincipal: true,
  DefineLegacyGroupChatPool: true,
  DecommissionLegacyPool: true,
  InstallPersistentChatPool: true,
  RemovePersistentChatPool: true,
  AddPersistentChatServer: true,
  RemovePersistentChatServer: true,
  SetPersistentChatActiveServers: true,
  SetPersistentChatState: true,
  StartPool: true,
  StopPool: true,
  CreateEndpoint: true,
  RemoveEndpoint: true,
  MigratePool: true,
  RunMigration: true,
  FailMigrationStep: true,
  RollbackMigration: true,
  ApproveChange: true,
  AdoptObservedState: true,
};

const SEED_ENDPOINT = { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' };

/** The error a parse is refused with (synchronous or not), for assertions on its fields. */
async function refusal(name: string, body: unknown, options?: { reason?: string }): Promise<Refusal> {
  try {
    await parseCommandBody(name, body, options);
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error(`${name} ${JSON.stringify(body)} was accepted`);
}

describe('command registry', () => {
  describe('covers the domain commands', () => {
    it('has a definition for every command an administrator sends, and nothing else', () => {
      expect(commandNames().sort()).toEqual(Object.keys(ALL_COMMAND_TYPES).sort());
    });

    it.each(commandNames())('%s: key, name, DTO and summary agree', (name) => {
      const definition = COMMANDS.get(name);
      expect(definition?.name).toBe(name);
      expect(new definition!.dto()).toBeInstanceOf(CommandDto);
      expect(definition!.summary.length).toBeGreaterThan(20);
      expect(definition!.summary).not.toContain('\n');
    });

    it('commandNames returns a copy', () => {
      commandNames().push('Nope');
      expect(commandNames()).not.toContain('Nope');
    });
  });

  describe('migration commands', () => {
    it('MigratePool names its pools by FQDN, checked by the domain parser', async () => {
      const error = await refusal('MigratePool', { legacyPoolFqdn: 'gc..contoso.com', targetPoolFqdn: 'pcpool.contoso.com' });
      expect(error.code).toBe('INVALID_FQDN');
      expect(error.field).toBe('legacyPoolFqdn');
    });

    it('RunMigration needs a migration id that is a UUID, and at most 7 steps', async () => {
      expect((await refusal('RunMigration', { migrationId: 'x' })).details['field']).toBe('migrationId');
      expect((await refusal('RunMigration', { migrationId: '0b7e4f6c-4d1a-8f3e-9c2b-5a6d7e8f9a0b', steps: 8 })).details['field']).toBe('steps');
    });

    it('RollbackMigration and FailMigrationStep need a reason (policy), also from X-Reason', async () => {
      const migrationId = '0b7e4f6c-4d1a-8f3e-9c2b-5a6d7e8f9a0b';
      expect((await refusal('RollbackMigration', { migrationId })).code).toBe('REASON_REQUIRED');
      expect((await refusal('FailMigrationStep', { migrationId })).code).toBe('REASON_REQUIRED');
      const parsed = await parseCommandBody('RollbackMigration', { migrationId, force: true }, { reason: 'CHG-9' });
      expect(parsed.command).toEqual({ type: 'RollbackMigration', migrationId, reason: 'CHG-9', force: true });
    });
  });

  describe('CreateEndpoint (the seed)', () => {
    it('builds the domain command from the seed body', async () => {
      const { definition, dto, command } = await parseCommandBody('CreateEndpoint', SEED_ENDPOINT);
      expect(definition.name).toBe('CreateEndpoint');
      expect(dto).toBeInstanceOf(CommandDto);
      expect(command).toEqual({ type: 'CreateEndpoint', sipAddress: 'sip:persistentchat@contoso.com', poolFqdn: 'pcpool.contoso.com', objectGuid: expect.stringMatching(GUID) });
      expect(Object.keys(command)).not.toContain('displayName');
    });

    it("gives the contact a new objectGUID, or keeps the one sent (braces and case as Active Directory writes it)", async () => {
      const first = (await parseCommandBody('CreateEndpoint', SEED_ENDPOINT)).command as { objectGuid: string };
      const second = (await parseCommandBody('CreateEndpoint', SEED_ENDPOINT)).command as { objectGuid: string };
      expect(first.objectGuid).not.toBe(second.objectGuid);
      const given = await parseCommandBody('CreateEndpoint', { ...SEED_ENDPOINT, objectGuid: '{33E5014B-DCBA-46B5-9BF7-48F4D5FCA69D}' });
      expect(given.command).toMatchObject({ objectGuid: '33e5014b-dcba-46b5-9bf7-48f4d5fca69d' });
      await expect(parseCommandBody('CreateEndpoint', { ...SEED_ENDPOINT, objectGuid: 'not-a-guid' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });

    it('lower-cases the SIP address and the pool FQDN (R2)', async () => {
      const { command } = await parseCommandBody('CreateEndpoint', {
        sipAddress: 'SIP:PersistentChat@Contoso.COM',
        persistentChatPoolFqdn: 'PCPool.Contoso.com.',
        displayName: 'Persistent Chat',
      });
      expect(command).toEqual({
        type: 'CreateEndpoint',
        sipAddress: 'sip:persistentchat@contoso.com',
        poolFqdn: 'pcpool.contoso.com',
        displayName: 'Persistent Chat',
        objectGuid: expect.stringMatching(GUID),
      });
    });

    it('keeps deployment, commandId and reason on the DTO', async () => {
      const commandId = '5f0c6a3e-8a51-4c1e-9a43-6c4f1b2d7e90';
      const { dto } = await parseCommandBody('CreateEndpoint', { ...SEED_ENDPOINT, deployment: 'Contoso.EU', commandId, reason: 'CHG1' });
      expect(dto).toMatchObject({ deployment: 'Contoso.EU', commandId, reason: 'CHG1' });
    });

    it('refuses a missing required field, naming it', async () => {
      const error = await refusal('CreateEndpoint', { sipAddress: SEED_ENDPOINT.sipAddress });
      expect(error).toBeInstanceOf(InvalidInput);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.category).toBe('invalid');
      expect(error.field).toBe('persistentChatPoolFqdn');
      expect(error.message).toContain('persistentChatPoolFqdn is required');
      expect(error.details).toEqual({
        field: 'persistentChatPoolFqdn',
        rule: 'schema',
        constraints: { isDefined: 'persistentChatPoolFqdn is required' },
        errors: [{ field: 'persistentChatPoolFqdn', constraints: { isDefined: 'persistentChatPoolFqdn is required' } }],
      });
    });

    it('takes an absent body as {} and names the first missing field', async () => {
      const error = await refusal('CreateEndpoint', undefined);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('sipAddress');
      expect((error.details['errors'] as unknown[]).length).toBe(2);
    });

    it('refuses an unknown field, naming it and the accepted ones', async () => {
      const error = await refusal('CreateEndpoint', { ...SEED_ENDPOINT, poolFqdn: 'pcpool.contoso.com' });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('poolFqdn');
      expect(error.message).toContain('poolFqdn is not a field of CreateEndpoint');
      expect(error.message).toContain('persistentChatPoolFqdn');
      expect(error.details['constraints']).toHaveProperty('whitelistValidation');
    });

    it.each(['__proto__', 'constructor', 'toString'])('refuses the field %s rather than dropping it', async (key) => {
      const error = await refusal('CreateEndpoint', JSON.parse(`{"sipAddress":"sip:a@contoso.com","persistentChatPoolFqdn":"p.contoso.com","${key}":{}}`));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe(key);
    });

    it('refuses a field of the wrong type', async () => {
      const error = await refusal('CreateEndpoint', { ...SEED_ENDPOINT, displayName: 42 });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('displayName');
      expect(error.details['constraints']).toEqual({ isString: 'displayName must be a string' });
    });

    it('refuses an over-long display name', async () => {
      const error = await refusal('CreateEndpoint', { ...SEED_ENDPOINT, displayName: 'x'.repeat(257) });
      expect(error.field).toBe('displayName');
      expect(error.details['constraints']).toHaveProperty('maxLength');
    });

    it('refuses a SIP address without the sip: prefix with R1 and the corrected form', async () => {
      const error = await refusal('CreateEndpoint', { ...SEED_ENDPOINT, sipAddress: 'persistentchat@contoso.com' });
      expect(error.code).toBe('INVALID_SIP_ADDRESS');
      expect(error.rule).toBe('R1');
      expect(error.field).toBe('sipAddress');
      expect(error.details['hint']).toBe('sip:persistentchat@contoso.com');
    });

    it('names the body field in FQDN errors', async () => {
      const error = await refusal('CreateEndpoint', { ...SEED_ENDPOINT, persistentChatPoolFqdn: 'pcpool' });
      expect(error.code).toBe('INVALID_FQDN');
      expect(error.field).toBe('persistentChatPoolFqdn');
      // A 400 always names its rule: an FQDN's syntax is the input's shape.
      expect(error.details).toMatchObject({ field: 'persistentChatPoolFqdn', rule: 'schema' });
      expect((await refusal('RegisterSipDomain', { domain: 'not a domain' })).details).toMatchObject({ field: 'domain', rule: 'schema' });
    });

    it('uses a reason given outside the body when the body has none, and the body reason otherwise', async () => {
      const fromOutside = await parseCommandBody('RemoveEndpoint', { identity: 'sip:persistentchat@contoso.com' }, { reason: 'CHG7' });
      expect(fromOutside.command).toEqual({ type: 'RemoveEndpoint', identity: 'sip:persistentchat@contoso.com', reason: 'CHG7' });
      const fromBody = await parseCommandBody('RemoveEndpoint', { identity: 'Persistent Chat', reason: 'CHG8' }, { reason: 'CHG7' });
      expect(fromBody.command).toEqual({ type: 'RemoveEndpoint', identity: 'Persistent Chat', reason: 'CHG8' });
      const tooLong = await refusal('RemoveEndpoint', { identity: 'x' }, { reason: 'r'.repeat(1001) });
      expect(tooLong.field).toBe('reason');
    });
  });

  describe('refusals before the schema', () => {
    it('refuses an unknown command, suggesting the closest name', async () => {
      const error = await refusal('CreateEndpiont', SEED_ENDPOINT);
      expect(error).toBeInstanceOf(UnknownCommand);
      expect(error.code).toBe('UNKNOWN_COMMAND');
      expect(error.category).toBe('not_found');
      expect(error.message).toContain("Did you mean 'CreateEndpoint'?");
      expect(error.details['suggestion']).toBe('CreateEndpoint');
    });

    it('suggests nothing for a name far from every command, listing them instead', async () => {
      const error = await refusal('Frobnicate', {});
      expect(error.details['suggestion']).toBeUndefined();
      expect(error.message).toContain('CreateEndpoint');
      expect(closestName('createendpoint', commandNames())).toBe('CreateEndpoint');
      expect(closestName('StopPol', commandNames())).toBe('StopPool');
    });

    it('does not resolve names through Object.prototype', async () => {
      expect((await refusal('constructor', {})).code).toBe('UNKNOWN_COMMAND');
      expect((await refusal('__proto__', {})).code).toBe('UNKNOWN_COMMAND');
    });

    it.each([
      ['an array', [SEED_ENDPOINT]],
      ['null', null],
      ['a string', 'sip:persistentchat@contoso.com'],
      ['a number', 1],
    ])('refuses a body that is %s', async (received, body) => {
      const error = await refusal('CreateEndpoint', body);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.details['received']).toBe(received);
    });

    it('refuses deeply nested values without overflowing the stack', async () => {
      const deep = JSON.parse(`{"fqdn":"gc.contoso.com","version":"Lync2010","wellKnownSipAddress":"sip:ocschat@contoso.com","services":{"web":${'['.repeat(20000)}${']'.repeat(20000)}}}`);
      const error = await refusal('DefineLegacyGroupChatPool', deep);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('services.web[0]');
      expect(error.details['constraints']).toHaveProperty('maxDepth');
    });

    it('is synchronous underneath', () => {
      expect(() => parseCommandBodySync('CreateEndpiont', {})).toThrow(UnknownCommand);
      expect(parseCommandBodySync('StartPool', { fqdn: 'pcpool.contoso.com' }).command).toEqual({ type: 'StartPool', fqdn: 'pcpool.contoso.com' });
    });
  });

  describe('common fields', () => {
    it.each(['default', 'contoso', 'Contoso.EU', 'org_1', '0', 'a'.repeat(63)])('accepts the deployment %s', async (deployment) => {
      await expect(parseCommandBody('StartPool', { fqdn: 'pcpool.contoso.com', deployment })).resolves.toBeDefined();
    });

    it.each(['', '.contoso', '_x', 'conto so', 'contoso/eu', 'a'.repeat(64), 'contoso-eu'])('refuses the deployment %j', async (deployment) => {
      const error = await refusal('StartPool', { fqdn: 'pcpool.contoso.com', deployment });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('deployment');
      expect(error.details['constraints']).toHaveProperty('matches');
    });

    it('refuses a commandId that is not a UUID and a reason over 1000 characters', async () => {
      expect((await refusal('StartPool', { fqdn: 'pcpool.contoso.com', commandId: 'abc' })).field).toBe('commandId');
      expect((await refusal('StartPool', { fqdn: 'pcpool.contoso.com', reason: 'r'.repeat(1001) })).field).toBe('reason');
    });

    it.each([
      ['a bell and a terminal escape', 'x\u0007\u001b[31mred', 'U+0007 at character 2'],
      ['a NUL', 'a\u0000b', 'U+0000 at character 2'],
      ['a zero-width space', 'Chat\u200b', 'U+200B at character 5'],
      ['a right-to-left override', 'abc\u202edef', 'U+202E at character 4'],
      ['a lone surrogate', 'x\ud800', 'U+D800 at character 2'],
      ['a line break', 'Line\nbreak', 'U+000A at character 5'],
    ])('refuses a display name with %s, naming the character and where it is', async (_what, displayName, found) => {
      const error = await refusal('CreateEndpoint', { ...SEED_ENDPOINT, displayName });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('displayName');
      expect(error.details['rule']).toBe('schema');
      expect(error.details['constraints']).toHaveProperty('plainText');
      expect(error.message).toContain(`displayName must be plain text: no control or invisible characters; found ${found}`);
    });

    it('refuses hidden characters in a reason, but keeps its line breaks and tabs', async () => {
      const error = await refusal('DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com', reason: 'CHG-1\u0000' });
      expect(error.field).toBe('reason');
      expect(error.message).toContain('found U+0000 at character 6');
      await expect(parseCommandBody('DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com', reason: 'CHG-1042\n\tmigration window' })).resolves.toBeDefined();
      await expect(parseCommandBody('CreateEndpoint', { ...SEED_ENDPOINT, displayName: 'Zoë Ünal · Ελληνικά · 中文 😀' })).resolves.toBeDefined();
    });

    it('lists every problem in details.errors, the first one in the message', async () => {
      const error = await refusal('AddPersistentChatServer', { poolFqdn: 7, deployment: '-' });
      expect(error.field).toBe('poolFqdn');
      expect(error.message).toMatch(/^Invalid AddPersistentChatServer body: poolFqdn must be a string \(isString\)\. 2 more problems/);
      expect((error.details['errors'] as Array<{ field: string }>).map((e) => e.field)).toEqual(['poolFqdn', 'serverFqdn', 'deployment']);
    });
  });

  describe('DefineLegacyGroupChatPool', () => {
    const body = { fqdn: 'GC.contoso.com', version: 'Lync2010', wellKnownSipAddress: 'sip:OCSChat@contoso.com' };

    it('builds the command with nested services', async () => {
      const { command } = await parseCommandBody('DefineLegacyGroupChatPool', {
        ...body,
        services: { web: 'GCWeb.contoso.com', lookup: null },
        databaseInstance: 'sql.contoso.com\\gc',
      });
      expect(command).toEqual({
        type: 'DefineLegacyGroupChatPool',
        fqdn: 'gc.contoso.com',
        version: 'Lync2010',
        wellKnownSipAddress: 'sip:ocschat@contoso.com',
        services: { web: 'gcweb.contoso.com' },
        databaseInstance: 'sql.contoso.com\\gc',
      });
    });

    it('refuses a nested field of the wrong type with its dotted path', async () => {
      const error = await refusal('DefineLegacyGroupChatPool', { ...body, services: { web: 5 } });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('services.web');
      expect(error.details['constraints']).toEqual({ isString: 'services.web must be a string' });
    });

    it('refuses an unknown nested field', async () => {
      const error = await refusal('DefineLegacyGroupChatPool', { ...body, services: { chat: 'gc.contoso.com' } });
      expect(error.field).toBe('services.chat');
      expect(error.details['constraints']).toEqual({ whitelistValidation: 'services.chat is not an accepted field' });
    });

    it('refuses services that are not an object', async () => {
      for (const services of ['gc.contoso.com', ['gc.contoso.com']]) {
        const error = await refusal('DefineLegacyGroupChatPool', { ...body, services });
        expect(error.field).toBe('services');
        expect(error.details['constraints']).toEqual({ isObject: 'services must be an object' });
        expect(error.details['errors']).toHaveLength(1);
      }
    });

    it('names the nested field in FQDN errors', async () => {
      const error = await refusal('DefineLegacyGroupChatPool', { ...body, services: { compliance: 'not a name' } });
      expect(error.code).toBe('INVALID_FQDN');
      expect(error.field).toBe('services.compliance');
    });

    it('refuses an unknown version and a malformed database instance', async () => {
      const version = await refusal('DefineLegacyGroupChatPool', { ...body, version: 'Lync2013' });
      expect(version.field).toBe('version');
      expect(version.message).toContain('Lync2010, OCS2007R2');
      const instance = await refusal('DefineLegacyGroupChatPool', { ...body, databaseInstance: 'sql\\inst\\extra' });
      expect(instance.field).toBe('databaseInstance');
    });

    it('cites R1 for a well-known address without its prefix', async () => {
      const error = await refusal('DefineLegacyGroupChatPool', { ...body, wellKnownSipAddress: 'ocschat@contoso.com' });
      expect(error.rule).toBe('R1');
      expect(error.field).toBe('wellKnownSipAddress');
    });
  });

  describe('InstallPersistentChatPool', () => {
    it('builds the command, omitting absent options', async () => {
      const { command } = await parseCommandBody('InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['PC1.contoso.com'] });
      expect(command).toEqual({ type: 'InstallPersistentChatPool', fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com'] });
    });

    it('keeps the given options', async () => {
      const { command } = await parseCommandBody('InstallPersistentChatPool', {
        fqdn: 'pcpool.contoso.com',
        servers: ['pc1.contoso.com'],
        site: 'Redmond',
        complianceEnabled: false,
        singleServer: true,
        databaseInstance: 'sqlpc',
      });
      expect(command).toMatchObject({ site: 'Redmond', complianceEnabled: false, singleServer: true, databaseInstance: 'sqlpc' });
    });

    it('refuses servers that are not a list of strings', async () => {
      expect((await refusal('InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: 'pc1.contoso.com' })).details['constraints']).toHaveProperty(
        'isArray',
      );
      expect((await refusal('InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: [1] })).details['constraints']).toHaveProperty('isString');
      expect((await refusal('InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: [] })).details['constraints']).toHaveProperty(
        'arrayMinSize',
      );
    });

    it('names the list element in FQDN errors', async () => {
      const error = await refusal('InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2'] });
      expect(error.code).toBe('INVALID_FQDN');
      expect(error.field).toBe('servers[1]');
    });

    it('refuses a boolean given as a string', async () => {
      const error = await refusal('InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com'], singleServer: 'true' });
      expect(error.field).toBe('singleServer');
      expect(error.details['constraints']).toHaveProperty('isBoolean');
    });
  });

  describe('SetPersistentChatActiveServers', () => {
    const poolFqdn = 'pcpool.contoso.com';

    it.each([
      [{ add: ['PC2.contoso.com'] }, { kind: 'add', servers: ['pc2.contoso.com'] }],
      [{ remove: ['pc2.contoso.com'] }, { kind: 'remove', servers: ['pc2.contoso.com'] }],
      [{ replace: [] }, { kind: 'replace', servers: [] }],
      [{ clear: true }, { kind: 'clear' }],
      [{ swap: true, add: null }, { kind: 'swap' }],
    ])('%j → change %j', async (change, expected) => {
      const { command } = await parseCommandBody('SetPersistentChatActiveServers', { poolFqdn, ...change });
      expect(command).toEqual({ type: 'SetPersistentChatActiveServers', poolFqdn, change: expected });
    });

    it('refuses two changes at once, naming the fields', async () => {
      const error = await refusal('SetPersistentChatActiveServers', { poolFqdn, add: ['pc2.contoso.com'], remove: ['pc1.contoso.com'] });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.field).toBe('add');
      expect(error.message).toContain('exactly one of add, remove, replace, clear, swap must be given, not add and remove');
      expect((error.details['errors'] as Array<{ field: string }>).map((e) => e.field)).toEqual(['add', 'remove']);
    });

    it('refuses no change at all', async () => {
      const error = await refusal('SetPersistentChatActiveServers', { poolFqdn });
      expect(error.field).toBe('add');
      expect(error.details['constraints']).toEqual({
        exactlyOneOf: 'add: exactly one of add, remove, replace, clear, swap must be given, not none',
      });
    });

    it('refuses clear: false and an empty add', async () => {
      expect((await refusal('SetPersistentChatActiveServers', { poolFqdn, clear: false })).details['constraints']).toHaveProperty('isIn');
      expect((await refusal('SetPersistentChatActiveServers', { poolFqdn, add: [] })).details['constraints']).toHaveProperty('arrayMinSize');
    });

    it('names the list element in FQDN errors', async () => {
      const error = await refusal('SetPersistentChatActiveServers', { poolFqdn, remove: ['pc1..contoso.com'] });
      expect(error.code).toBe('INVALID_FQDN');
      expect(error.field).toBe('remove[0]');
    });
  });

  describe('the other commands', () => {
    it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
      ['RegisterSipDomain', { domain: 'Contoso.com', isDefault: true }, { type: 'RegisterSipDomain', domain: 'contoso.com', isDefault: true }],
      ['SetDefaultSipDomain', { domain: 'fabrikam.com' }, { type: 'SetDefaultSipDomain', domain: 'fabrikam.com' }],
      ['RemoveSipDomain', { domain: 'fabrikam.com', reason: 'merger' }, { type: 'RemoveSipDomain', domain: 'fabrikam.com', reason: 'merger' }],
      [
        'RegisterSipPrincipal',
        { sipAddress: 'sip:Alice@contoso.com', kind: 'user', displayName: 'Alice' },
        { type: 'RegisterSipPrincipal', sipAddress: 'sip:alice@contoso.com', kind: 'user', displayName: 'Alice' },
      ],
      ['DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com' }, { type: 'DeleteSipPrincipal', sipAddress: 'sip:ocschat@contoso.com' }],
      ['DecommissionLegacyPool', { fqdn: 'gc.contoso.com', reason: 'done' }, { type: 'DecommissionLegacyPool', fqdn: 'gc.contoso.com', reason: 'done' }],
      ['RemovePersistentChatPool', { fqdn: 'pcpool.contoso.com' }, { type: 'RemovePersistentChatPool', fqdn: 'pcpool.contoso.com' }],
      [
        'AddPersistentChatServer',
        { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com', reason: 'capacity' },
        { type: 'AddPersistentChatServer', poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com' },
      ],
      [
        'RemovePersistentChatServer',
        { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com', reason: 'retired' },
        { type: 'RemovePersistentChatServer', poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com', reason: 'retired' },
      ],
      [
        'SetPersistentChatState',
        { poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' },
        { type: 'SetPersistentChatState', poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' },
      ],
      ['StartPool', { fqdn: 'pcpool.contoso.com' }, { type: 'StartPool', fqdn: 'pcpool.contoso.com' }],
      ['StopPool', { fqdn: 'gc.contoso.com' }, { type: 'StopPool', fqdn: 'gc.contoso.com' }],
      ['RemoveEndpoint', { identity: 'sip:persistentchat@contoso.com' }, { type: 'RemoveEndpoint', identity: 'sip:persistentchat@contoso.com' }],
    ])('%s builds its command', async (name, body, expected) => {
      const { command } = await parseCommandBody(name, body);
      expect(command).toEqual(expected);
      expect(command.type).toBe(name);
    });

    it('refuses a poolState or kind outside its enum', async () => {
      const state = await refusal('SetPersistentChatState', { poolFqdn: 'pcpool.contoso.com', poolState: 'normal' });
      expect(state.field).toBe('poolState');
      expect(state.message).toContain('Normal, FailedOver');
      expect((await refusal('RegisterSipPrincipal', { sipAddress: 'sip:a@contoso.com', kind: 'wellKnownUser' })).field).toBe('kind');
    });

    it('refuses a blank identity', async () => {
      expect((await refusal('RemoveEndpoint', { identity: '   ' })).field).toBe('identity');
    });
  });

  it('parses thousands of bodies per second', () => {
    const started = process.hrtime.bigint();
    const count = 5000;
    for (let i = 0; i < count; i++) {
      parseCommandBodySync('CreateEndpoint', { sipAddress: `sip:pc${i}@contoso.com`, persistentChatPoolFqdn: 'pcpool.contoso.com', reason: 'load' });
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    expect(count / seconds).toBeGreaterThan(2000);
  });
});

describe("the cmdlets' parameter names in a body", () => {
  it.each([
    ['PersistentChatServer:pcpool.contoso.com'],
    ['service:PersistentChatServer:pcpool.contoso.com'],
    ['pcpool.contoso.com'],
  ])('SetPersistentChatState takes identity %s as the pool, as Set-CsPersistentChatState -Identity does', (identity) => {
    const parsed = parseCommandBodySync('SetPersistentChatState', { identity, poolState: 'FailedOver' });
    expect(parsed.command).toMatchObject({ type: 'SetPersistentChatState', poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' });
  });

  it('SetPersistentChatActiveServers takes identity too', () => {
    const parsed = parseCommandBodySync('SetPersistentChatActiveServers', { identity: 'PersistentChatServer:pcpool.contoso.com', swap: true });
    expect(parsed.command).toMatchObject({ poolFqdn: 'pcpool.contoso.com' });
  });

  it('refuses identity beside poolFqdn, naming identity', async () => {
    const error = await refusal('SetPersistentChatState', { identity: 'PersistentChatServer:a.contoso.com', poolFqdn: 'b.contoso.com', poolState: 'Normal' });
    expect(error).toBeInstanceOf(InvalidInput);
    expect(error.details).toMatchObject({ field: 'identity', rule: 'schema' });
  });

  it('names identity, not poolFqdn, when the identity given is not a pool', async () => {
    const error = await refusal('SetPersistentChatState', { identity: 'PersistentChatServer:global', poolState: 'Normal' });
    expect(error.details).toMatchObject({ field: 'identity' });
  });
});
