/**
 * Stream ids, `<category>-<id>` with no dash in the category (EventStoreDB's `$by_category` splits
 * at the first dash). One topology stream per deployment: R3 (one owner per SIP URI) spans the
 * whole deployment, so the deployment is the consistency boundary.
 */
export const TOPOLOGY_CATEGORY = 'topology';
export const REFUSAL_CATEGORY = 'refused_command';
/** One stream per migration: `migration-<id>`. */
export const MIGRATION_CATEGORY = 'migration';

export const DEFAULT_DEPLOYMENT = 'default';
/** A deployment name: part of a stream id, so letters, digits, `.` and `_`, lower-cased. */
export const DEPLOYMENT_PATTERN = /^[a-z0-9][a-z0-9._]{0,62}$/;
/** Where refusals go whose deployment could not even be read (it cannot collide: names never start with `_`). */
export const UNREADABLE_DEPLOYMENT = '_unreadable';

export const topologyStreamId = (deployment: string): string => `${TOPOLOGY_CATEGORY}-${deployment}`;
export const refusalStreamId = (deployment: string): string => `${REFUSAL_CATEGORY}-${deployment}`;
export const migrationStreamId = (migrationId: string): string => `${MIGRATION_CATEGORY}-${migrationId}`;
export const ACCESS_DENIED_CATEGORY = 'access_denied';
/** The event type of a denied attempt (401, 403), in `access_denied-<deployment>`. */
export const ACCESS_DENIED = 'AccessDenied';
export const accessDeniedStreamId = (deployment: string): string => `${ACCESS_DENIED_CATEGORY}-${deployment}`;
/** The event type of an API token's issue, in `api_token-registry`; its data holds the token's salted hash. */
export const API_TOKEN_ISSUED = 'ApiTokenIssued';
/** One stream per deployment for its observations and the drift they find: `observation-<deployment>`. */
export const OBSERVATION_CATEGORY = 'observation';
export const observationStreamId = (deployment: string): string => `${OBSERVATION_CATEGORY}-${deployment}`;
