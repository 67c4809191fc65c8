import { authorize, COMMAND_POLICY, COMMAND_ROUTE_KEY, Principal, Role, ROLES, ROUTE_POLICY, rolesAllowed } from '../../src/application/authorization';
import { commandNames } from '../../src/application/commands/command-registry';

/**
 * The role matrix, written out by hand as the README states it: every cell of it (route × role,
 * command × role) is checked against the policy table, so a change to either shows here.
 */
const A = 'admin';
const O = 'operator';
const U = 'auditor';
const R = 'reader';

const ROUTES: readonly (readonly [string, readonly Role[]])[] = [
  ['GET /api/topology', [A, O, U, R]],
  ['GET /api/topology/diff', [A, O, U, R]],
  ['GET /api/endpoints', [A, O, U, R]],
  ['GET /api/deployments', [A, O, U, R]],
  ['GET /api/migrations', [A, O, U, R]],
  ['GET /api/migrations/:id', [A, O, U, R]],
  ['GET /api/migrations/:id/runbook', [A, O, U, R]],
  ['GET /api/projections', [A, O, U, R]],
  ['GET /api/live', [A, O, U, R]],
  ['GET /api/session', [A, O, U, R]],
  ['GET /api/observations/schema', [A, O, U, R]],
  ['GET /api/events/catalog', [A, O, U, R]],
  ['GET /api/observations/expected', [A, O, U, R]],
  ['GET /api/observations/:id/runbook', [A, O, U, R]],
  ['GET /api/drift', [A, O, U, R]],
  ['POST /api/observations', [A, O]],
  ['POST /api/projections/:name/rebuild', [A]],
  ['GET /api/audit', [A, U]],
  ['GET /api/audit/history', [A, U]],
  ['GET /api/audit/verify', [A, U]],
  ['GET /api/audit/digest', [A, U]],
  ['GET /api/compliance/report', [A, U]],
  ['GET /api/tokens', [A]],
  ['POST /api/tokens', [A]],
  ['DELETE /api/tokens/:token', [A]],
];

const COMMANDS: readonly (readonly [string, readonly Role[]])[] = [
  ['RegisterSipDomain', [A, O]],
  ['SetDefaultSipDomain', [A, O]],
  ['RemoveSipDomain', [A, O]],
  ['RegisterSipPrincipal', [A, O]],
  ['DeleteSipPrincipal', [A, O]],
  ['DefineLegacyGroupChatPool', [A, O]],
  ['DecommissionLegacyPool', [A]],
  ['InstallPersistentChatPool', [A, O]],
  ['RemovePersistentChatPool', [A, O]],
  ['AddPersistentChatServer', [A, O]],
  ['RemovePersistentChatServer', [A, O]],
  ['SetPersistentChatActiveServers', [A, O]],
  ['SetPersistentChatState', [A, O]],
  ['StartPool', [A, O]],
  ['StopPool', [A, O]],
  ['CreateEndpoint', [A, O]],
  ['RemoveEndpoint', [A, O]],
  ['MigratePool', [A, O]],
  ['RunMigration', [A, O]],
  ['FailMigrationStep', [A, O]],
  ['AdoptObservedState', [A, O]],
  ['RollbackMigration', [A]],
  ['ApproveChange', [A]],
];

const principal = (role: Role): Principal => ({ actor: `${role}-token`, roles: [role], authenticated: true, via: 'api_token' });

describe('the authorization policy', () => {
  const routeCells = ROUTES.flatMap(([route, allowed]) => ROLES.map((role) => [route, role, allowed.includes(role)] as const));
  it.each(routeCells)('%s as %s: allowed %p', (route, role, allowed) => {
    const decision = authorize(principal(role), { route });
    expect(decision.allowed).toBe(allowed);
    if (!decision.allowed) {
      expect(decision.denial).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      expect(decision.denial.message).toContain(`role ${role}`);
      expect(decision.denial.message).toContain(ROUTE_POLICY.get(route)!.what);
    }
  });

  const commandCells = COMMANDS.flatMap(([command, allowed]) => ROLES.map((role) => [command, role, allowed.includes(role)] as const));
  it.each(commandCells)('command %s as %s: allowed %p', (command, role, allowed) => {
    const decision = authorize(principal(role), { route: COMMAND_ROUTE_KEY, command });
    expect(decision.allowed).toBe(allowed);
    if (!decision.allowed) expect(decision.denial.message).toMatch(new RegExp(`role ${role} and may not run ${command}`));
  });

  it('lists exactly the routes and commands of the matrix above, and every command the API accepts', () => {
    expect([...ROUTE_POLICY.keys()].filter((k) => k !== COMMAND_ROUTE_KEY).sort()).toEqual(ROUTES.map(([r]) => r).sort());
    expect([...COMMAND_POLICY.keys()].sort()).toEqual(COMMANDS.map(([c]) => c).sort());
    for (const name of commandNames()) expect(COMMAND_POLICY.has(name)).toBe(true);
  });

  it('leaves what it does not know to admins: an unlisted route or command', () => {
    expect(rolesAllowed({ route: 'GET /api/something-new' })).toEqual(['admin']);
    expect(rolesAllowed({ route: COMMAND_ROUTE_KEY, command: 'NoSuchCommand' })).toEqual(['admin']);
    expect(authorize(principal('operator'), { route: COMMAND_ROUTE_KEY, command: 'NoSuchCommand' }).allowed).toBe(false);
  });

  it('refuses a principal with no role at all, saying so', () => {
    const decision = authorize({ actor: 'someone', roles: [], authenticated: true, via: 'oidc' }, { route: 'GET /api/topology' });
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) expect(decision.denial.message).toBe('someone has no role and may not read the topology; it needs admin or operator or auditor or reader.');
  });
});
