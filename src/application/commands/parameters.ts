/**
 * Values of command parameters that the command registry and the cmdlet line read alike, so that a
 * line checked by the CLI and a body checked by the API agree: a Persistent Chat pool's service
 * identity (`-Identity PersistentChatServer:<fqdn>`) and the export levels of a migration plan
 * (`-Level`, R17). Both are the domain's; this module carries no validator, so the CLI loads it at
 * start without the registry's DTOs.
 */
export { poolFqdnOfServiceIdentity } from '../../domain/shared/fqdn';
export { EXPORT_LEVELS } from '../../domain/migration/plan';
