import type { JsonObject } from '../event-store/event-store';

/**
 * Who may do what: the one policy table of the product. The API's guard asks it about every
 * route; the README's role matrix is this table, and `test/api/authorization.spec.ts` checks every
 * cell of it.
 */

export const ROLES = ['admin', 'operator', 'auditor', 'reader'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** How a principal proved who it is. */
export type CredentialKind = 'api_token' | 'oidc' | 'local' | 'none';

/** The verified caller of a request: its name is the actor recorded in the events it causes. */
export interface Principal {
  readonly actor: string;
  readonly roles: readonly Role[];
  /** True when the name comes from a verified credential (API token, OIDC JWT); false for local OS-level access. */
  readonly authenticated: boolean;
  readonly via: CredentialKind;
}

/** A refused attempt at the door: 401 (no or bad credential) or 403 (the role may not). */
export class AccessDenied extends Error {
  readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN';
  constructor(
    readonly status: 401 | 403,
    message: string,
    /** Why, in a word or two, as the record of the attempt keeps it: `no credential`, `token revoked`, `role`, ... */
    readonly reason: string,
    readonly details: JsonObject = {},
  ) {
    super(message);
    this.name = 'AccessDenied';
    this.code = status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN';
  }

  static unauthenticated(reason: string): AccessDenied {
    return new AccessDenied(401, `Authentication required: ${reason}. Send Authorization: Bearer <API token or OIDC JWT>.`, reason, { reason });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

/** Changes to the topology and its endpoints, and the migration steps an operator runs. */
const OPERATOR_COMMANDS = [
  'RegisterSipDomain',
  'SetDefaultSipDomain',
  'RemoveSipDomain',
  'RegisterSipPrincipal',
  'DeleteSipPrincipal',
  'DefineLegacyGroupChatPool',
  'InstallPersistentChatPool',
  'RemovePersistentChatPool',
  'AddPersistentChatServer',
  'RemovePersistentChatServer',
  'SetPersistentChatActiveServers',
  'SetPersistentChatState',
  'StartPool',
  'StopPool',
  'CreateEndpoint',
  'RemoveEndpoint',
  'MigratePool',
  'RunMigration',
  'FailMigrationStep',
  'AdoptObservedState',
] as const;

/** What cannot be undone by running forwards again: admins only. */
const ADMIN_COMMANDS = ['DecommissionLegacyPool', 'RollbackMigration', 'ApproveChange'] as const;

/** Every command the policy knows, with the roles that may send it. A command it does not know is for admins only. */
export const COMMAND_POLICY: ReadonlyMap<string, readonly Role[]> = new Map<string, readonly Role[]>([
  ...OPERATOR_COMMANDS.map((name) => [name, ['admin', 'operator']] as const),
  ...ADMIN_COMMANDS.map((name) => [name, ['admin']] as const),
]);

// ---------------------------------------------------------------------------------------------
// Routes

export interface RoutePolicy {
  readonly roles: readonly Role[];
  /** What the route does, as a 403 names it: "role reader may not <what>". */
  readonly what: string;
}

const READ: readonly Role[] = ['admin', 'operator', 'auditor', 'reader'];
const AUDIT: readonly Role[] = ['admin', 'auditor'];
const ADMIN: readonly Role[] = ['admin'];

/** The command route; its roles come from {@link COMMAND_POLICY}. */
export const COMMAND_ROUTE_KEY = 'POST /api/commands/:name';

/**
 * Every route behind the door, by `METHOD path` as Nest declares it. A route missing here is for
 * admins only, and the route-coverage test fails until it is listed.
 */
export const ROUTE_POLICY: ReadonlyMap<string, RoutePolicy> = new Map<string, RoutePolicy>([
  [COMMAND_ROUTE_KEY, { roles: ['admin', 'operator'], what: 'send commands' }],
  ['GET /api/topology', { roles: READ, what: 'read the topology' }],
  ['GET /api/topology/diff', { roles: READ, what: 'read topology differences' }],
  ['GET /api/endpoints', { roles: READ, what: 'read the endpoint directory' }],
  ['GET /api/deployments', { roles: READ, what: 'list deployments' }],
  ['GET /api/migrations', { roles: READ, what: 'read migrations' }],
  ['GET /api/migrations/:id', { roles: READ, what: 'read migrations' }],
  ['GET /api/migrations/:id/runbook', { roles: READ, what: 'read migrations' }],
  ['GET /api/projections', { roles: READ, what: 'read projection status' }],
  ['GET /api/live', { roles: READ, what: 'follow live changes' }],
  ['GET /api/session', { roles: READ, what: 'read its own session' }],
  ['POST /api/projections/:name/rebuild', { roles: ADMIN, what: 'rebuild projections' }],
  ['GET /api/observations/schema', { roles: READ, what: 'read the snapshot schema' }],
  ['GET /api/events/catalog', { roles: READ, what: 'read the event catalog' }],
  ['GET /api/observations/expected', { roles: READ, what: 'read the expected snapshot' }],
  ['GET /api/observations/:id/runbook', { roles: READ, what: 'read the way back to the ledger' }],
  ['POST /api/observations', { roles: ['admin', 'operator'], what: 'record observations' }],
  ['GET /api/drift', { roles: READ, what: 'read drift' }],
  ['GET /api/audit', { roles: AUDIT, what: 'read the audit trail' }],
  ['GET /api/audit/history', { roles: AUDIT, what: 'read the audit trail' }],
  ['GET /api/audit/verify', { roles: AUDIT, what: 'verify the log' }],
  ['GET /api/audit/digest', { roles: AUDIT, what: 'read the log digest' }],
  ['GET /api/compliance/report', { roles: AUDIT, what: 'read compliance reports' }],
  ['GET /api/tokens', { roles: ADMIN, what: 'manage API tokens' }],
  ['POST /api/tokens', { roles: ADMIN, what: 'manage API tokens' }],
  ['DELETE /api/tokens/:token', { roles: ADMIN, what: 'manage API tokens' }],
]);

/** What a request asks to do, in the policy's terms. */
export interface Attempt {
  /** `METHOD path` with the route's own parameters (`/api/commands/:name`), not the request's values. */
  readonly route: string;
  /** The command name, on the command route. */
  readonly command?: string | undefined;
}

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly denial: AccessDenied };

/** The roles that may make this attempt. */
export function rolesAllowed(attempt: Attempt): readonly Role[] {
  if (attempt.route === COMMAND_ROUTE_KEY) return COMMAND_POLICY.get(attempt.command ?? '') ?? ADMIN;
  return ROUTE_POLICY.get(attempt.route)?.roles ?? ADMIN;
}

/** Whether `principal` may make `attempt`; a refusal names the principal's roles and what they may not do. */
export function authorize(principal: Principal, attempt: Attempt): Decision {
  const allowed = rolesAllowed(attempt);
  if (principal.roles.some((role) => allowed.includes(role))) return { allowed: true };
  const what =
    attempt.route === COMMAND_ROUTE_KEY ? `run ${attempt.command ?? 'this command'}` : (ROUTE_POLICY.get(attempt.route)?.what ?? `use ${attempt.route}`);
  const roles = principal.roles.length === 0 ? 'no role' : `role ${principal.roles.join(', ')}`;
  const message = `${principal.actor} has ${roles} and may not ${what}; it needs ${allowed.join(' or ')}.`;
  return {
    allowed: false,
    denial: new AccessDenied(403, message, 'role', {
      roles: [...principal.roles],
      required: [...allowed],
      route: attempt.route,
      ...(attempt.command !== undefined ? { command: attempt.command } : {}),
    }),
  };
}
