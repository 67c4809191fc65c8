import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { LAST_STEP, type LegacyGroupChatVersion, type PersistentChatPoolState } from '../../domain';
import { EXPORT_LEVELS } from './parameters';
import { Documented, DocumentedSchema } from './documentation';
import { BooleanField, compose, type Doc, EnumField, ExactlyOneOf, PlainText, presence, REQUIRED_MESSAGE, StringField, TextField } from './field-decorators';

/**
 * The request bodies of `POST /api/commands/<CommandName>`, one class per topology command.
 *
 * These classes check the SHAPE of a body only (types, required fields, lengths, enums, arrays).
 * The syntax of SIP addresses and FQDNs is checked afterwards by the domain parsers
 * (`parseSipUri`, `parseFqdn`), so that those errors cite their rule (R1, ...) and name the body field.
 * Field names follow the Lync cmdlet parameters in camelCase (`-PersistentChatPoolFqdn` → `persistentChatPoolFqdn`).
 */

// ---------------------------------------------------------------------------------------------
// Limits and value sets

export const INPUT_LIMITS = {
  sipAddress: 256,
  fqdn: 255,
  displayName: 256,
  databaseInstance: 256,
  site: 256,
  reason: 1000,
  /** A SIP address, a display name or a distinguished name (R6); distinguished names are the longest. */
  identity: 1024,
  /** Servers named in one list; R10's real limits (8 per pool, 4 active) are the domain's to enforce. */
  serversPerList: 32,
  /** A Windows path (`-FileName`). */
  fileName: 260,
  /** Legacy category paths given to a migration plan, and the length of one. */
  categories: 10_000,
  categoryPath: 4096,
} as const;

/**
 * `deployment` becomes part of a stream id: a letter or digit, then up to 62 letters, digits, dots
 * or underscores, either case. (Spelled without the `i` flag so that `.source` is also the OpenAPI pattern.)
 */
export const DEPLOYMENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._]{0,62}$/;
export const DEFAULT_DEPLOYMENT = 'default';

/**
 * A SQL Server instance as the Lync cmdlets take it (`-DBInstance`): `server\instance` or `server`
 * (the default instance). The server is a host name or FQDN; an instance name is at most 16
 * characters and starts with a letter, `_`, `&` or `#`.
 */
export const DATABASE_INSTANCE_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?:\\[A-Za-z_&#][A-Za-z0-9_$&#]{0,15})?$/;

// Object keys (rather than array literals) so that a value added to a domain union fails to compile here until listed.
export const LEGACY_GROUP_CHAT_VERSIONS = Object.keys({
  Lync2010: true,
  OCS2007R2: true,
} satisfies Record<LegacyGroupChatVersion, true>) as readonly LegacyGroupChatVersion[];

export const PERSISTENT_CHAT_POOL_STATES = Object.keys({
  Normal: true,
  FailedOver: true,
} satisfies Record<PersistentChatPoolState, true>) as readonly PersistentChatPoolState[];

export type SipPrincipalKindInput = 'user' | 'contact';
export const SIP_PRINCIPAL_KINDS = Object.keys({
  user: true,
  contact: true,
} satisfies Record<SipPrincipalKindInput, true>) as readonly SipPrincipalKindInput[];

/** The fields of SetPersistentChatActiveServers of which exactly one must be given. */
export const ACTIVE_SERVERS_CHANGE_FIELDS = ['add', 'remove', 'replace', 'clear', 'swap'] as const;

// ---------------------------------------------------------------------------------------------
// The fields of this product's bodies (the general ones are in field-decorators.ts)

function SipAddressField(doc: Doc, required = true): PropertyDecorator {
  return StringField(INPUT_LIMITS.sipAddress, doc, required, { format: 'sip-uri' });
}

function FqdnField(doc: Doc, required = true): PropertyDecorator {
  return StringField(INPUT_LIMITS.fqdn, doc, required, { format: 'hostname' });
}

/** `exclusiveWith`: the field is one of a group of which exactly one is given (and is then optional on its own). */
function FqdnListField(doc: Doc, options: { required: boolean; minItems: number; exclusiveWith?: readonly string[] }): PropertyDecorator {
  const max = INPUT_LIMITS.serversPerList;
  return compose(
    options.exclusiveWith ? ExactlyOneOf(options.exclusiveWith) : presence(options.required),
    IsArray(),
    ArrayMinSize(options.minItems, { message: `$property must name at least ${options.minItems} server(s)` }),
    ArrayMaxSize(max, { message: `$property must name at most ${max} servers` }),
    IsString({ each: true, message: 'each value in $property must be a string' }),
    MaxLength(INPUT_LIMITS.fqdn, { each: true, message: `each value in $property must be at most ${INPUT_LIMITS.fqdn} characters long` }),
    Documented(options.required, {
      type: String,
      isArray: true,
      minItems: options.minItems,
      maxItems: max,
      items: { type: 'string', format: 'hostname', maxLength: INPUT_LIMITS.fqdn },
      ...doc,
    }),
  );
}

function DatabaseInstanceField(): PropertyDecorator {
  return compose(
    StringField(INPUT_LIMITS.databaseInstance, {
      description: 'SQL Server instance of the pool\'s database, as `-DBInstance` takes it: `server\\instance`, or `server` for the default instance.',
      example: 'sql.contoso.com\\pchat',
    }, false, { pattern: DATABASE_INSTANCE_PATTERN.source }),
    Matches(DATABASE_INSTANCE_PATTERN, { message: "$property must have the form 'server\\instance' or 'server'" }),
  );
}

// ---------------------------------------------------------------------------------------------
// The fields every command body may carry

export abstract class CommandDto {
  @compose(
    IsOptional(),
    IsString(),
    Matches(DEPLOYMENT_PATTERN, {
      message: '$property must be 1 to 63 letters, digits, dots or underscores, starting with a letter or digit',
    }),
    Documented(false, {
      type: String,
      description:
        'The deployment (one organization\'s topology) the command applies to; `default` when absent. ' +
        'It becomes part of the event stream id, so it is 1 to 63 letters, digits, dots or underscores, ' +
        'starting with a letter or digit, and compares without regard to case.',
      pattern: DEPLOYMENT_PATTERN.source,
      maxLength: 63,
      default: DEFAULT_DEPLOYMENT,
      example: 'contoso',
    }),
  )
  deployment?: string;

  @compose(
    IsOptional(),
    IsUUID(undefined, { message: '$property must be a UUID' }),
    Documented(false, {
      type: String,
      format: 'uuid',
      description:
        'Client-chosen id of this command, for idempotency: a repeat with the same id returns the first result and appends nothing.',
      example: '5f0c6a3e-8a51-4c1e-9a43-6c4f1b2d7e90',
    }),
  )
  commandId?: string;

  @TextField(
    INPUT_LIMITS.reason,
    {
      description:
        'Why the change is made, or its change ticket; recorded in the audit trail. Required (policy) by the removals: ' +
        'DeleteSipPrincipal, RemoveSipDomain, DecommissionLegacyPool, RemovePersistentChatPool, RemovePersistentChatServer, RemoveEndpoint. ' +
        'The `X-Reason` header gives it when the body does not.',
      example: 'CHG0042: migrate Group Chat to Persistent Chat',
    },
    false,
    { lineBreaks: true },
  )
  reason?: string;
}

// ---------------------------------------------------------------------------------------------
// SIP domains

@DocumentedSchema({ description: 'Registers a SIP domain of the deployment (`New-CsSipDomain`).' })
export class RegisterSipDomainDto extends CommandDto {
  @FqdnField({ description: 'The SIP domain (`-Identity`), e.g. `contoso.com`. Compared without regard to case.', example: 'contoso.com' })
  domain!: string;

  @BooleanField({
    description: 'Make it the default SIP domain (`-IsDefault`). The first domain registered becomes the default whatever this says.',
    example: true,
  })
  isDefault?: boolean;
}

@DocumentedSchema({ description: 'Makes a registered SIP domain the default one (`Set-CsSipDomain -IsDefault $True`).' })
export class SetDefaultSipDomainDto extends CommandDto {
  @FqdnField({ description: 'A registered SIP domain.', example: 'contoso.com' })
  domain!: string;
}

@DocumentedSchema({ description: 'Removes a SIP domain no SIP address uses any more (`Remove-CsSipDomain`); needs a reason.' })
export class RemoveSipDomainDto extends CommandDto {
  @FqdnField({ description: 'A registered SIP domain.', example: 'fabrikam.com' })
  domain!: string;
}

// ---------------------------------------------------------------------------------------------
// SIP principals

@DocumentedSchema({ description: 'Registers a user or contact owning a SIP address.' })
export class RegisterSipPrincipalDto extends CommandDto {
  @SipAddressField({
    description: 'The SIP address (`-SipAddress`), with the `sip:` prefix, in a registered SIP domain (R1); stored lower-cased (R2).',
    example: 'sip:alice@contoso.com',
  })
  sipAddress!: string;

  @EnumField(SIP_PRINCIPAL_KINDS, 'SipPrincipalKind', {
    description: 'What owns the address. Well-known users are created by DefineLegacyGroupChatPool, never directly.',
    example: 'user',
  })
  kind!: SipPrincipalKindInput;

  @TextField(INPUT_LIMITS.displayName, { description: 'Display name (`-DisplayName`).', example: 'Alice Ciccu' }, false, { lineBreaks: false })
  displayName?: string;
}

@DocumentedSchema({ description: 'Deletes a user, contact or well-known user, releasing its SIP address; needs a reason.' })
export class DeleteSipPrincipalDto extends CommandDto {
  @SipAddressField({ description: 'The SIP address of the principal to delete.', example: 'sip:ocschat@contoso.com' })
  sipAddress!: string;
}

// ---------------------------------------------------------------------------------------------
// Legacy Group Chat pools

@DocumentedSchema({ description: 'The computers running each Group Chat service of a legacy pool.' })
export class LegacyGroupChatServicesDto {
  @FqdnField({ description: 'Lookup service computer; the pool FQDN when absent.', example: 'gc.contoso.com' }, false)
  lookup?: string;

  @FqdnField({ description: 'Channel service computer; the pool FQDN when absent.', example: 'gc.contoso.com' }, false)
  channel?: string;

  @FqdnField({ description: 'Web (file posting) service computer; none when absent.', example: 'gcweb.contoso.com' }, false)
  web?: string;

  @FqdnField({ description: 'Compliance service computer; none when absent.', example: 'gccompliance.contoso.com' }, false)
  compliance?: string;
}

@DocumentedSchema({
  description: 'Records an existing Lync Server 2010 or OCS 2007 R2 Group Chat pool and creates its well-known user (R15, R3, R1).',
})
export class DefineLegacyGroupChatPoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the legacy Group Chat pool.', example: 'gc.contoso.com' })
  fqdn!: string;

  @EnumField(LEGACY_GROUP_CHAT_VERSIONS, 'LegacyGroupChatVersion', {
    description: 'Product version of the pool, fixed at definition (R15).',
    example: 'Lync2010',
  })
  version!: LegacyGroupChatVersion;

  @SipAddressField({
    description: 'SIP address of the well-known user legacy clients contact; created when no one owns it, refused when someone does (R3).',
    example: 'sip:ocschat@contoso.com',
  })
  wellKnownSipAddress!: string;

  @compose(
    IsOptional(),
    IsObject({ message: '$property must be an object' }),
    ValidateNested(),
    Type(() => LegacyGroupChatServicesDto),
    Documented(false, { type: () => LegacyGroupChatServicesDto, description: 'The computer running each service.' }),
  )
  services?: LegacyGroupChatServicesDto;

  @DatabaseInstanceField()
  databaseInstance?: string;
}

@DocumentedSchema({ description: 'Decommissions a stopped legacy Group Chat pool whose data has moved (migration step 7); needs a reason.' })
export class DecommissionLegacyPoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the legacy Group Chat pool.', example: 'gc.contoso.com' })
  fqdn!: string;
}

// ---------------------------------------------------------------------------------------------
// Persistent Chat pools and servers

@DocumentedSchema({ description: 'Installs a Persistent Chat pool and its default pool contact (R7, R10, R14).' })
export class InstallPersistentChatPoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the Persistent Chat pool.', example: 'pcpool.contoso.com' })
  fqdn!: string;

  @FqdnListField(
    {
      description: 'FQDNs of the pool\'s servers: at most 8, the first 4 become active (R10).',
      example: ['pc1.contoso.com', 'pc2.contoso.com'],
    },
    { required: true, minItems: 1 },
  )
  servers!: string[];

  @StringField(INPUT_LIMITS.site, { description: 'The central site the pool belongs to.', example: 'Redmond' }, false)
  site?: string;

  @BooleanField({ description: 'Whether the compliance service is enabled (default false).', example: false })
  complianceEnabled?: boolean;

  @BooleanField({
    description: 'Installed on a single computer: `servers` then names exactly one, and the pool can never gain servers (R10).',
    example: false,
  })
  singleServer?: boolean;

  @DatabaseInstanceField()
  databaseInstance?: string;
}

@DocumentedSchema({ description: 'Removes a Persistent Chat pool that has no endpoints left (R9); needs a reason.' })
export class RemovePersistentChatPoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the Persistent Chat pool.', example: 'pcpool.contoso.com' })
  fqdn!: string;
}

@DocumentedSchema({ description: 'Adds a server to a Persistent Chat pool (R10).' })
export class AddPersistentChatServerDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the Persistent Chat pool.', example: 'pcpool.contoso.com' })
  poolFqdn!: string;

  @FqdnField({ description: 'FQDN of the server to add.', example: 'pc3.contoso.com' })
  serverFqdn!: string;
}

@DocumentedSchema({ description: 'Removes an inactive server from a Persistent Chat pool; needs a reason.' })
export class RemovePersistentChatServerDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the Persistent Chat pool.', example: 'pcpool.contoso.com' })
  poolFqdn!: string;

  @FqdnField({ description: 'FQDN of the server to remove; it must be inactive.', example: 'pc3.contoso.com' })
  serverFqdn!: string;
}

const ONE_CHANGE = 'Exactly one of `add`, `remove`, `replace`, `clear`, `swap` is given.';

@DocumentedSchema({
  description:
    'Changes which servers of a Persistent Chat pool are active (`Set-CsPersistentChatActiveServer`, R12, R10). ' + ONE_CHANGE,
})
export class SetPersistentChatActiveServersDto extends CommandDto {
  @FqdnField({
    description: 'FQDN of the Persistent Chat pool (`-Identity`).',
    example: 'pcpool.contoso.com',
  })
  poolFqdn!: string;

  @FqdnListField(
    { description: `Servers to make active (\`-ActiveServers @{Add=...}\`). ${ONE_CHANGE}`, example: ['pc2.contoso.com'] },
    { required: false, minItems: 1, exclusiveWith: ACTIVE_SERVERS_CHANGE_FIELDS },
  )
  add?: string[];

  @FqdnListField(
    { description: `Servers to make inactive (\`-ActiveServers @{Remove=...}\`). ${ONE_CHANGE}`, example: ['pc2.contoso.com'] },
    { required: false, minItems: 1, exclusiveWith: ACTIVE_SERVERS_CHANGE_FIELDS },
  )
  remove?: string[];

  @FqdnListField(
    {
      description: `The complete new set of active servers (\`-ActiveServers @{Replace=...}\`); empty makes none active. ${ONE_CHANGE}`,
      example: ['pc1.contoso.com', 'pc2.contoso.com'],
    },
    { required: false, minItems: 0, exclusiveWith: ACTIVE_SERVERS_CHANGE_FIELDS },
  )
  replace?: string[];

  @compose(
    ExactlyOneOf(ACTIVE_SERVERS_CHANGE_FIELDS),
    IsIn([true], { message: '$property must be true when given (leave it out otherwise)' }),
    Documented(false, {
      type: Boolean,
      enum: [true],
      description: `Make no server active (\`-ActiveServers $Null\`). ${ONE_CHANGE}`,
      example: true,
    }),
  )
  clear?: true;

  @compose(
    ExactlyOneOf(ACTIVE_SERVERS_CHANGE_FIELDS),
    IsIn([true], { message: '$property must be true when given (leave it out otherwise)' }),
    Documented(false, {
      type: Boolean,
      enum: [true],
      description: `Make the active servers inactive and the inactive ones active (\`-Swap\`). ${ONE_CHANGE}`,
      example: true,
    }),
  )
  swap?: true;
}

@DocumentedSchema({
  description: 'Sets a Persistent Chat pool to its primary or backup databases (`Set-CsPersistentChatState -PoolState`, R11).',
})
export class SetPersistentChatStateDto extends CommandDto {
  @FqdnField({
    description: 'FQDN of the Persistent Chat pool (the `<fqdn>` of `-Identity PersistentChatServer:<fqdn>`).',
    example: 'pcpool.contoso.com',
  })
  poolFqdn!: string;

  @EnumField(PERSISTENT_CHAT_POOL_STATES, 'PersistentChatPoolState', {
    description: '`Normal` (primary databases) or `FailedOver` (backup databases) (`-PoolState`).',
    example: 'FailedOver',
  })
  poolState!: PersistentChatPoolState;
}

// ---------------------------------------------------------------------------------------------
// Pool life cycle (R14), either kind of pool

@DocumentedSchema({ description: 'Starts a Persistent Chat or legacy Group Chat pool (R14).' })
export class StartPoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the pool, of either kind.', example: 'pcpool.contoso.com' })
  fqdn!: string;
}

@DocumentedSchema({ description: 'Stops a started Persistent Chat or legacy Group Chat pool (R14).' })
export class StopPoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the pool, of either kind.', example: 'gc.contoso.com' })
  fqdn!: string;
}

// ---------------------------------------------------------------------------------------------
// Persistent Chat endpoints

@DocumentedSchema({ description: 'Creates a Persistent Chat endpoint (`New-CsPersistentChatEndpoint`, R1, R3, R4, R8).' })
export class CreateEndpointDto extends CommandDto {
  @SipAddressField({
    description:
      'The endpoint\'s SIP address (`-SipAddress`): with the `sip:` prefix, in a registered SIP domain (R1), owned by no one else (R3).',
    example: 'sip:persistentchat@contoso.com',
  })
  sipAddress!: string;

  @FqdnField({
    description: 'FQDN of an existing Persistent Chat pool (`-PersistentChatPoolFqdn`, R4).',
    example: 'pcpool.contoso.com',
  })
  persistentChatPoolFqdn!: string;

  @TextField(INPUT_LIMITS.displayName, { description: 'Display name (`-DisplayName`).', example: 'Persistent Chat' }, false, { lineBreaks: false })
  displayName?: string;

  @compose(
    IsOptional(),
    IsString(),
    Matches(/^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$/, { message: '$property must be a GUID, e.g. 33e5014b-dcba-46b5-9bf7-48f4d5fca69d' }),
    Documented(false, {
      description:
        "The contact's objectGUID in Active Directory, when it is known: its distinguished name is `CN={guid},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=...`. Omitted: a new one.",
      example: '33e5014b-dcba-46b5-9bf7-48f4d5fca69d',
    }),
  )
  objectGuid?: string;
}

@DocumentedSchema({ description: 'Removes a Persistent Chat endpoint (`Remove-CsPersistentChatEndpoint -Identity`, R6); needs a reason.' })
export class RemoveEndpointDto extends CommandDto {
  @compose(
    IsDefined({ message: REQUIRED_MESSAGE }),
    IsString(),
    MaxLength(INPUT_LIMITS.identity, { message: `$property must be at most ${INPUT_LIMITS.identity} characters long` }),
    Matches(/\S/, { message: '$property must not be blank' }),
    Documented(true, {
      type: String,
      maxLength: INPUT_LIMITS.identity,
      description:
        'The endpoint (`-Identity`, R6): its SIP address, its distinguished name, or its display name (an error lists the endpoints when several share it).',
      example: 'sip:persistentchat@contoso.com',
    }),
  )
  identity!: string;
}

// ---------------------------------------------------------------------------------------------
// Migrations (R16–R20)

function MigrationIdField(): PropertyDecorator {
  return compose(
    IsDefined({ message: REQUIRED_MESSAGE }),
    IsUUID(undefined, { message: '$property must be a UUID' }),
    Documented(true, { type: String, format: 'uuid', description: 'The migration, as MigratePool returned it.', example: '0b7e4f6c-4d1a-8f3e-9c2b-5a6d7e8f9a0b' }),
  );
}

function StepField(description: string): PropertyDecorator {
  return compose(
    IsOptional(),
    IsInt({ message: '$property must be a whole number' }),
    Min(1, { message: '$property must be at least 1' }),
    Max(LAST_STEP, { message: `$property must be at most ${LAST_STEP}` }),
    Documented(false, { type: Number, minimum: 1, maximum: LAST_STEP, description }),
  );
}

@DocumentedSchema({
  description:
    'Plans the migration of a legacy Group Chat pool into a Persistent Chat pool (the seed\'s scenario). With `?whatIf=true` it returns the plan ' +
    '(preconditions, steps with their events, what will not be migrated, a PowerShell runbook) and stores nothing; otherwise it records the plan ' +
    'and returns the migration id. Nothing runs until RunMigration. Needs a reason (policy) unless whatIf.',
})
export class MigratePoolDto extends CommandDto {
  @FqdnField({ description: 'FQDN of the legacy Group Chat pool whose data and well-known SIP URI move.', example: 'gc.contoso.com' })
  legacyPoolFqdn!: string;

  @FqdnField({ description: 'FQDN of the installed Persistent Chat pool that receives them.', example: 'pcpool.contoso.com' })
  targetPoolFqdn!: string;

  @TextField(INPUT_LIMITS.fileName, { description: 'Export file (`Export-CsPersistentChatData -FileName`); a default under C:\\GroupChatMigration otherwise.', example: 'C:\\GroupChatMigration\\gc.zip' }, false, { lineBreaks: false })
  exportFileName?: string;

  @compose(
    IsOptional(),
    IsIn([...EXPORT_LEVELS], { message: `$property must be one of ${EXPORT_LEVELS.join(', ')}` }),
    Documented(false, { enum: [...EXPORT_LEVELS], enumName: 'ExportLevel', description: '`-Level` of the export (R17); `All` by default.' }),
  )
  exportLevel?: (typeof EXPORT_LEVELS)[number];

  @TextField(INPUT_LIMITS.site, { description: '`-Scope` of the export: the names of the categories to export, separated by commas (R17); the runbook writes them as a list.', example: 'Engineering, Sales' }, false, { lineBreaks: false })
  exportScope?: string;

  @compose(
    IsOptional(),
    IsArray(),
    ArrayMaxSize(INPUT_LIMITS.categories, { message: `$property must list at most ${INPUT_LIMITS.categories} categories` }),
    IsString({ each: true, message: 'each value in $property must be a string' }),
    MaxLength(INPUT_LIMITS.categoryPath, { each: true, message: `each value in $property must be at most ${INPUT_LIMITS.categoryPath} characters long` }),
    PlainText({ lineBreaks: false, each: true }),
    Documented(false, {
      type: String,
      isArray: true,
      description: 'The legacy category paths (plain text, one line each), parent first, joined by `/` (`Engineering/Platform`): the plan lists the names flattening changes or cuts (R18).',
      example: ['Engineering', 'Engineering/Platform'],
    }),
  )
  categories?: string[];

  @TextField(INPUT_LIMITS.displayName, { description: 'Display name of the legacy endpoint that takes over the well-known SIP URI.' }, false, { lineBreaks: false })
  endpointDisplayName?: string;
}

@DocumentedSchema({ description: 'Runs the next step(s) of a planned migration through the same rules as manual commands; all remaining steps when `steps` is absent.' })
export class RunMigrationDto extends CommandDto {
  @MigrationIdField()
  migrationId!: string;

  @StepField('How many steps to run; all remaining when absent.')
  steps?: number;

  @StepField('The step meant to run first (a cmdlet line that records one step): refused with 409 when the migration is at another step.')
  fromStep?: number;
}

@DocumentedSchema({ description: 'Reports that the next step of a migration failed outside the product; the migration becomes Failed and can be rolled back. Needs a reason.' })
export class FailMigrationStepDto extends CommandDto {
  @MigrationIdField()
  migrationId!: string;

  @StepField('The step that failed; must be the next one.')
  step?: number;
}

@DocumentedSchema({
  description:
    'Rolls a migration back with compensating events derived from its audit trail, last step first (R20); refused with ROLLBACK_CONFLICT when later ' +
    'changes touched what it changed, unless `force`. Needs a reason.',
})
export class RollbackMigrationDto extends CommandDto {
  @MigrationIdField()
  migrationId!: string;

  @BooleanField({ description: 'Roll back what can be despite conflicts, and record what could not.' })
  force?: boolean;
}

@DocumentedSchema({
  description:
    'Four eyes (FOUR_EYES=on): a second administrator, not the one who asked, approves or rejects the plan of a migration or its requested rollback. ' +
    'A rejected plan ends the migration; a rejected rollback is withdrawn.',
})
export class ApproveChangeDto extends CommandDto {
  @MigrationIdField()
  migrationId!: string;

  @compose(
    IsDefined({ message: REQUIRED_MESSAGE }),
    IsIn(['approve', 'reject'], { message: '$property must be one of approve, reject' }),
    Documented(true, { enum: ['approve', 'reject'], description: 'The decision.' }),
  )
  decision!: 'approve' | 'reject';
}
