import { randomUUID } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError, type ValidatorOptions } from 'class-validator';
import {
  fqdnProblem,
  parseFqdn,
  parseGuid,
  parseSipUri,
  type ActiveServersChange,
  type Fqdn,
  type LegacyGroupChatServicesInput,
  type AdminTopologyCommandType,
  type AdoptObservedState,
  type MigrationCommand,
  type MigrationCommandType,
  ReasonRequired,
  type TopologyCommand,
} from '../../domain';
import { InvalidInput, UnknownCommand, type SchemaProblem } from './input-errors';
import { poolFqdnOfServiceIdentity } from './parameters';
import { AdoptObservedStateDto } from './adopt-observed-state.dto';
import {
  AddPersistentChatServerDto,
  ApproveChangeDto,
  FailMigrationStepDto,
  MigratePoolDto,
  RollbackMigrationDto,
  RunMigrationDto,
  CommandDto,
  CreateEndpointDto,
  DecommissionLegacyPoolDto,
  DefineLegacyGroupChatPoolDto,
  DeleteSipPrincipalDto,
  InstallPersistentChatPoolDto,
  RegisterSipDomainDto,
  RegisterSipPrincipalDto,
  RemoveEndpointDto,
  RemovePersistentChatPoolDto,
  RemovePersistentChatServerDto,
  RemoveSipDomainDto,
  SetDefaultSipDomainDto,
  SetPersistentChatActiveServersDto,
  SetPersistentChatStateDto,
  StartPoolDto,
  StopPoolDto,
  type LegacyGroupChatServicesDto,
} from './topology-command.dtos';

/** A command the API accepts: one on the topology, or one on a migration. */
export type AdminCommand = TopologyCommand | MigrationCommand | AdoptObservedState;
export type AdminCommandType = AdminTopologyCommandType | MigrationCommandType | AdoptObservedState['type'];

export function isAdoptionCommand(command: AdminCommand): command is AdoptObservedState {
  return command.type === 'AdoptObservedState';
}

const MIGRATION_COMMAND_TYPES: ReadonlySet<string> = new Set(Object.keys({
  MigratePool: true,
  RunMigration: true,
  FailMigrationStep: true,
  RollbackMigration: true,
  ApproveChange: true,
} satisfies Record<MigrationCommandType, true>));

export function isMigrationCommand(command: AdminCommand): command is MigrationCommand {
  return MIGRATION_COMMAND_TYPES.has(command.type);
}

/** One command as the HTTP API accepts it: its body class and how a valid body becomes the domain command. */
export interface CommandDefinition<D extends CommandDto = CommandDto> {
  readonly name: AdminCommandType;
  readonly dto: new () => D;
  /** One line for OpenAPI: the cmdlet it mirrors and the rules it enforces. */
  readonly summary: string;
  /**
   * Builds the domain command from a body that passed the schema. SIP addresses and FQDNs go
   * through the domain parsers with the body's field name, so their errors (`DomainError`, e.g.
   * INVALID_SIP_ADDRESS with rule R1) name that field.
   */
  toCommand(dto: D): AdminCommand;
}

type CommandOf<K extends AdminCommandType> = Extract<AdminCommand, { readonly type: K }>;

function define<K extends AdminCommandType, D extends CommandDto>(definition: {
  readonly name: K;
  readonly dto: new () => D;
  readonly summary: string;
  toCommand(dto: D): CommandOf<K>;
}): CommandDefinition<D> & { readonly name: K } {
  return Object.freeze(definition);
}

// ---------------------------------------------------------------------------------------------
// Building domain commands. Optional properties are left out rather than set to undefined
// (exactOptionalPropertyTypes); a JSON null counts as absent.

function optional<K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } {
  return value === undefined || value === null ? {} : ({ [key]: value } as { [P in K]?: V });
}

function fqdns(values: readonly string[], field: string): Fqdn[] {
  return values.map((value, index) => parseFqdn(value, `${field}[${index}]`));
}

function reasonOf(dto: CommandDto): { reason?: string } {
  return optional('reason', dto.reason);
}

function requiredReason(dto: CommandDto, command: string): string {
  const reason = dto.reason?.trim();
  if (!reason) throw new ReasonRequired(command);
  return reason;
}

function servicesOf(services: LegacyGroupChatServicesDto | null | undefined): { services?: LegacyGroupChatServicesInput } {
  if (services === undefined || services === null) return {};
  const result: { -readonly [K in keyof LegacyGroupChatServicesInput]: LegacyGroupChatServicesInput[K] } = {};
  for (const service of ['lookup', 'channel', 'web', 'compliance'] as const) {
    const value = services[service];
    if (value !== undefined && value !== null) result[service] = parseFqdn(value, `services.${service}`);
  }
  return { services: result };
}

function activeServersChangeOf(dto: SetPersistentChatActiveServersDto): ActiveServersChange {
  const given = (value: unknown): boolean => value !== undefined && value !== null;
  if (given(dto.add)) return { kind: 'add', servers: fqdns(dto.add ?? [], 'add') };
  if (given(dto.remove)) return { kind: 'remove', servers: fqdns(dto.remove ?? [], 'remove') };
  if (given(dto.replace)) return { kind: 'replace', servers: fqdns(dto.replace ?? [], 'replace') };
  if (dto.clear === true) return { kind: 'clear' };
  if (dto.swap === true) return { kind: 'swap' };
  // Only reachable when toCommand is called with a body that skipped the schema.
  throw InvalidInput.schema('SetPersistentChatActiveServers', [
    { field: 'add', constraints: { exactlyOneOf: 'exactly one of add, remove, replace, clear, swap must be given, not none' } },
  ]);
}

// ---------------------------------------------------------------------------------------------
// The commands. Keyed by command type, so a TopologyCommandType without a definition (or a
// definition whose name is not its key) fails to compile.

const DEFINITIONS: { readonly [K in AdminCommandType]: CommandDefinition & { readonly name: K } } = {
  RegisterSipDomain: define({
    name: 'RegisterSipDomain',
    dto: RegisterSipDomainDto,
    summary: 'Registers a SIP domain (New-CsSipDomain [-IsDefault]); the first one becomes the default (R1).',
    toCommand: (dto) => ({ type: 'RegisterSipDomain', domain: parseFqdn(dto.domain, 'domain'), ...optional('isDefault', dto.isDefault) }),
  }),
  SetDefaultSipDomain: define({
    name: 'SetDefaultSipDomain',
    dto: SetDefaultSipDomainDto,
    summary: 'Makes a registered SIP domain the default (Set-CsSipDomain -IsDefault $True); R7 creates default pool contacts in it.',
    toCommand: (dto) => ({ type: 'SetDefaultSipDomain', domain: parseFqdn(dto.domain, 'domain') }),
  }),
  RemoveSipDomain: define({
    name: 'RemoveSipDomain',
    dto: RemoveSipDomainDto,
    summary: 'Removes a SIP domain (Remove-CsSipDomain); refused while SIP addresses use it (R1) or while it is the default; needs a reason.',
    toCommand: (dto) => ({ type: 'RemoveSipDomain', domain: parseFqdn(dto.domain, 'domain'), ...reasonOf(dto) }),
  }),
  RegisterSipPrincipal: define({
    name: 'RegisterSipPrincipal',
    dto: RegisterSipPrincipalDto,
    summary: 'Registers a user (Enable-CsUser -SipAddress) or contact owning a SIP address, in a registered domain (R1, R2), owned by no one else (R3).',
    toCommand: (dto) => ({
      type: 'RegisterSipPrincipal',
      sipAddress: parseSipUri(dto.sipAddress, 'sipAddress'),
      kind: dto.kind,
      ...optional('displayName', dto.displayName),
    }),
  }),
  DeleteSipPrincipal: define({
    name: 'DeleteSipPrincipal',
    dto: DeleteSipPrincipalDto,
    summary: 'Deletes a user, contact or well-known user (Disable-CsUser), releasing its SIP address (R3; migration step 4); needs a reason.',
    toCommand: (dto) => ({ type: 'DeleteSipPrincipal', sipAddress: parseSipUri(dto.sipAddress, 'sipAddress'), ...reasonOf(dto) }),
  }),
  DefineLegacyGroupChatPool: define({
    name: 'DefineLegacyGroupChatPool',
    dto: DefineLegacyGroupChatPoolDto,
    summary: 'Records a Lync 2010 / OCS 2007 R2 Group Chat pool and creates its well-known user (R15, R1, R3).',
    toCommand: (dto) => ({
      type: 'DefineLegacyGroupChatPool',
      fqdn: parseFqdn(dto.fqdn, 'fqdn'),
      version: dto.version,
      wellKnownSipAddress: parseSipUri(dto.wellKnownSipAddress, 'wellKnownSipAddress'),
      ...servicesOf(dto.services),
      ...optional('databaseInstance', dto.databaseInstance),
    }),
  }),
  DecommissionLegacyPool: define({
    name: 'DecommissionLegacyPool',
    dto: DecommissionLegacyPoolDto,
    summary: 'Decommissions a stopped legacy Group Chat pool whose data has moved (migration step 7; R14, R15, ends rollback R20); needs a reason.',
    toCommand: (dto) => ({ type: 'DecommissionLegacyPool', fqdn: parseFqdn(dto.fqdn, 'fqdn'), ...reasonOf(dto) }),
  }),
  InstallPersistentChatPool: define({
    name: 'InstallPersistentChatPool',
    dto: InstallPersistentChatPoolDto,
    summary: 'Installs a Persistent Chat pool (Topology Builder, Install-CsDatabase, setup) with its default pool contact (R7, R10, R14).',
    toCommand: (dto) => ({
      type: 'InstallPersistentChatPool',
      fqdn: parseFqdn(dto.fqdn, 'fqdn'),
      servers: fqdns(dto.servers, 'servers'),
      ...optional('site', dto.site),
      ...optional('complianceEnabled', dto.complianceEnabled),
      ...optional('singleServer', dto.singleServer),
      ...optional('databaseInstance', dto.databaseInstance),
    }),
  }),
  RemovePersistentChatPool: define({
    name: 'RemovePersistentChatPool',
    dto: RemovePersistentChatPoolDto,
    summary: 'Removes a Persistent Chat pool from the topology; refused while it has endpoints (R9) or is started (R14); needs a reason.',
    toCommand: (dto) => ({ type: 'RemovePersistentChatPool', fqdn: parseFqdn(dto.fqdn, 'fqdn'), ...reasonOf(dto) }),
  }),
  AddPersistentChatServer: define({
    name: 'AddPersistentChatServer',
    dto: AddPersistentChatServerDto,
    summary: 'Adds a server to a Persistent Chat pool (Topology Builder); at most 8, none for a single-computer pool (R10).',
    toCommand: (dto) => ({
      type: 'AddPersistentChatServer',
      poolFqdn: parseFqdn(dto.poolFqdn, 'poolFqdn'),
      serverFqdn: parseFqdn(dto.serverFqdn, 'serverFqdn'),
    }),
  }),
  RemovePersistentChatServer: define({
    name: 'RemovePersistentChatServer',
    dto: RemovePersistentChatServerDto,
    summary: 'Removes an inactive server from a Persistent Chat pool (Topology Builder; R12 policy), never its last; needs a reason.',
    toCommand: (dto) => ({
      type: 'RemovePersistentChatServer',
      poolFqdn: parseFqdn(dto.poolFqdn, 'poolFqdn'),
      serverFqdn: parseFqdn(dto.serverFqdn, 'serverFqdn'),
      ...reasonOf(dto),
    }),
  }),
  SetPersistentChatActiveServers: define({
    name: 'SetPersistentChatActiveServers',
    dto: SetPersistentChatActiveServersDto,
    summary: 'Changes the active servers of a pool (Set-CsPersistentChatActiveServer -ActiveServers @{Add|Remove|Replace}, $Null, -Swap; R12, R10).',
    toCommand: (dto) => ({
      type: 'SetPersistentChatActiveServers',
      poolFqdn: parseFqdn(dto.poolFqdn, 'poolFqdn'),
      change: activeServersChangeOf(dto),
    }),
  }),
  SetPersistentChatState: define({
    name: 'SetPersistentChatState',
    dto: SetPersistentChatStateDto,
    summary: 'Switches a pool between its primary and backup databases (Set-CsPersistentChatState -PoolState Normal|FailedOver; R11).',
    toCommand: (dto) => ({ type: 'SetPersistentChatState', poolFqdn: parseFqdn(dto.poolFqdn, 'poolFqdn'), poolState: dto.poolState }),
  }),
  StartPool: define({
    name: 'StartPool',
    dto: StartPoolDto,
    summary: 'Starts a Persistent Chat pool (Start-CsPool) or a stopped legacy Group Chat pool (R14; migration step 6).',
    toCommand: (dto) => ({ type: 'StartPool', fqdn: parseFqdn(dto.fqdn, 'fqdn') }),
  }),
  StopPool: define({
    name: 'StopPool',
    dto: StopPoolDto,
    summary: 'Stops a started pool of either kind (Stop-CsWindowsService on its servers; R14; migration step 1).',
    toCommand: (dto) => ({ type: 'StopPool', fqdn: parseFqdn(dto.fqdn, 'fqdn') }),
  }),
  CreateEndpoint: define({
    name: 'CreateEndpoint',
    dto: CreateEndpointDto,
    summary: 'Creates a Persistent Chat endpoint (New-CsPersistentChatEndpoint -SipAddress -PersistentChatPoolFqdn; R1, R2, R3, R4, R8).',
    toCommand: (dto) => ({
      type: 'CreateEndpoint',
      sipAddress: parseSipUri(dto.sipAddress, 'sipAddress'),
      poolFqdn: parseFqdn(dto.persistentChatPoolFqdn, 'persistentChatPoolFqdn'),
      ...optional('displayName', dto.displayName),
      // The contact's objectGUID: the one given, else a new one (randomness stays out of the domain).
      objectGuid: parseGuid(dto.objectGuid ?? '') ?? randomUUID(),
    }),
  }),
  RemoveEndpoint: define({
    name: 'RemoveEndpoint',
    dto: RemoveEndpointDto,
    summary: 'Removes a Persistent Chat endpoint by SIP address, distinguished name or display name (Remove-CsPersistentChatEndpoint -Identity; R6, R5); needs a reason.',
    toCommand: (dto) => ({ type: 'RemoveEndpoint', identity: dto.identity, ...reasonOf(dto) }),
  }),
  MigratePool: define({
    name: 'MigratePool',
    dto: MigratePoolDto,
    summary: 'Plans the migration of a legacy Group Chat pool into a Persistent Chat pool (R16–R20); ?whatIf=true returns the plan and its runbook only.',
    toCommand: (dto) => ({
      type: 'MigratePool',
      legacyPoolFqdn: parseFqdn(dto.legacyPoolFqdn, 'legacyPoolFqdn'),
      targetPoolFqdn: parseFqdn(dto.targetPoolFqdn, 'targetPoolFqdn'),
      ...reasonOf(dto),
      ...optional('exportFileName', dto.exportFileName),
      ...optional('exportLevel', dto.exportLevel),
      ...optional('exportScope', dto.exportScope),
      ...optional('categories', dto.categories),
      ...optional('endpointDisplayName', dto.endpointDisplayName),
      // The objectGUID of the endpoint contact step 5 creates, chosen now so the plan and the run agree.
      endpointObjectGuid: randomUUID(),
    }),
  }),
  RunMigration: define({
    name: 'RunMigration',
    dto: RunMigrationDto,
    summary: 'Runs the next step(s) of a migration through the topology rules, resuming at the first unfinished step (R16).',
    toCommand: (dto) => ({ type: 'RunMigration', migrationId: dto.migrationId.toLowerCase(), ...optional('steps', dto.steps), ...optional('fromStep', dto.fromStep) }),
  }),
  FailMigrationStep: define({
    name: 'FailMigrationStep',
    dto: FailMigrationStepDto,
    summary: 'Reports that the next step of a migration failed outside the product; the migration becomes Failed. Needs a reason.',
    toCommand: (dto) => ({ type: 'FailMigrationStep', migrationId: dto.migrationId.toLowerCase(), reason: requiredReason(dto, 'FailMigrationStep'), ...optional('step', dto.step) }),
  }),
  RollbackMigration: define({
    name: 'RollbackMigration',
    dto: RollbackMigrationDto,
    summary: 'Rolls a migration back with compensating events, last step first; ROLLBACK_CONFLICT lists later changes unless forced (R20). Needs a reason.',
    toCommand: (dto) => ({
      type: 'RollbackMigration',
      migrationId: dto.migrationId.toLowerCase(),
      reason: requiredReason(dto, 'RollbackMigration'),
      ...optional('force', dto.force),
    }),
  }),
  ApproveChange: define({
    name: 'ApproveChange',
    dto: ApproveChangeDto,
    summary: 'Four eyes: another administrator approves or rejects a migration plan or a requested rollback before its first step.',
    toCommand: (dto) => ({ type: 'ApproveChange', migrationId: dto.migrationId.toLowerCase(), decision: dto.decision, ...reasonOf(dto) }),
  }),
  AdoptObservedState: define({
    name: 'AdoptObservedState',
    dto: AdoptObservedStateDto,
    summary: 'Adopts the drift an observation found into the ledger, through the same rules as every command (R3, R4, R10, ...); needs a reason.',
    toCommand: (dto) => ({
      type: 'AdoptObservedState',
      observationId: dto.observationId.toLowerCase(),
      ...optional('entities', dto.entities),
      reason: requiredReason(dto, 'AdoptObservedState'),
    }),
  }),
};

/** Every command the API accepts, by name (`POST /api/commands/<name>`). */
export const COMMANDS: ReadonlyMap<string, CommandDefinition> = new Map(
  Object.values(DEFINITIONS).map((definition) => [definition.name, definition] as const),
);

const NAMES: readonly string[] = Object.freeze([...COMMANDS.keys()]);

/** The command names, in a stable order. */
export function commandNames(): string[] {
  return [...NAMES];
}

// ---------------------------------------------------------------------------------------------
// Parsing a request

const VALIDATOR_OPTIONS: ValidatorOptions = Object.freeze({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  // Errors carry no reference to the body or its values: details name fields and constraints only.
  validationError: { target: false, value: false },
});

/** The top-level fields of each command's body, looked up once rather than per request. */
const FIELDS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  [...COMMANDS.values()].map((definition) => [
    definition.name,
    new Set(getMetadataStorage().getTargetValidationMetadatas(definition.dto, '', true, false).map((metadata) => metadata.propertyName)),
  ]),
);

export interface ParsedCommand {
  readonly definition: CommandDefinition;
  /** The validated body: `deployment`, `commandId` and `reason` are read from here. */
  readonly dto: CommandDto;
  readonly command: AdminCommand;
}

export interface ParseCommandOptions {
  /**
   * The change reason from outside the body (`X-Reason`, `--reason`), used when the body has no
   * `reason`; it is then validated as the body's `reason` would be.
   */
  readonly reason?: string;
}

/**
 * Turns `POST /api/commands/<name>` and its JSON body into a domain command.
 *
 * Refusals: `UnknownCommand` (404) for a name no command has; `InvalidInput` (400) for a body that
 * is not an object or fails the schema; the domain parsers' `DomainError`s (400, e.g.
 * INVALID_SIP_ADDRESS / R1, INVALID_FQDN) for syntactically wrong addresses and names.
 * An absent body (`undefined`) is taken as `{}`, so the error names the first missing field.
 */
export async function parseCommandBody(name: string, body: unknown, options: ParseCommandOptions = {}): Promise<ParsedCommand> {
  return parseCommandBodySync(name, body, options);
}

/** `parseCommandBody` without the promise, for callers that are synchronous anyway (the CLI, benchmarks). */
export function parseCommandBodySync(name: string, body: unknown, options: ParseCommandOptions = {}): ParsedCommand {
  const definition = COMMANDS.get(name);
  const fields = FIELDS.get(name);
  if (definition === undefined || fields === undefined) throw new UnknownCommand(name, NAMES);

  const given = asPlainObject(body, name);
  const aliases = PARAMETER_ALIASES[name] ?? {};
  let plain = withAliasesResolved(given, aliases, name);
  const screened = screen(plain, fields, name);
  if (screened.length > 0) throw InvalidInput.schema(name, screened as [SchemaProblem, ...SchemaProblem[]]);
  if (options.reason !== undefined && (plain['reason'] === undefined || plain['reason'] === null)) {
    plain = { ...plain, reason: options.reason };
  }

  const dto = plainToInstance(definition.dto, plain);
  // Synchronous: the DTOs have no asynchronous constraints, and this spares a promise per constraint.
  const errors = validateSync(dto, VALIDATOR_OPTIONS);
  if (errors.length > 0) {
    // A field given under its cmdlet parameter's name is named so in the error.
    const asGiven = (field: string): string => Object.keys(aliases).find((alias) => aliases[alias]!.field === field && alias in given) ?? field;
    const problems = problemsOf(errors, '').map((problem) => ({ ...problem, field: asGiven(problem.field) }));
    throw InvalidInput.schema(name, (problems.length > 0 ? problems : [{ field: '', constraints: { schema: 'the body is invalid' } }]) as [
      SchemaProblem,
      ...SchemaProblem[],
    ]);
  }
  return { definition, dto, command: definition.toCommand(dto) };
}

/** A body field that a cmdlet parameter names otherwise, and how the parameter's value becomes the field's. */
interface ParameterAlias {
  readonly field: string;
  /** The field's value, or why the parameter's value cannot be one (the error names the parameter). */
  readonly convert: (value: unknown) => { readonly value: unknown } | { readonly problem: string };
}

const serviceIdentity: ParameterAlias = {
  field: 'poolFqdn',
  convert: (value) => {
    if (typeof value !== 'string') return { value };
    const fqdn = poolFqdnOfServiceIdentity(value);
    const problem = fqdnProblem(fqdn.toLowerCase().replace(/\.$/, ''));
    return problem === null ? { value: fqdn } : { problem: `identity '${value}' does not name a Persistent Chat pool (PersistentChatServer:<pool fqdn>): ${problem}` };
  },
};

/**
 * The cmdlets' parameter names a body may use instead of the API's field names, where they differ
 * (`Set-CsPersistentChatState -Identity PersistentChatServer:<fqdn>` is `poolFqdn`). Every other
 * body field already has its parameter's name (`sipAddress`, `persistentChatPoolFqdn`, `poolState`,
 * `identity`, `displayName`).
 */
export const PARAMETER_ALIASES: Readonly<Record<string, Readonly<Record<string, ParameterAlias>>>> = {
  SetPersistentChatState: { identity: serviceIdentity },
  SetPersistentChatActiveServers: { identity: serviceIdentity },
};

function withAliasesResolved(body: Record<string, unknown>, aliases: Readonly<Record<string, ParameterAlias>>, name: string): Record<string, unknown> {
  let resolved = body;
  for (const [alias, { field, convert }] of Object.entries(aliases)) {
    if (!Object.prototype.hasOwnProperty.call(body, alias)) continue;
    if (Object.prototype.hasOwnProperty.call(body, field)) {
      throw InvalidInput.schema(name, [
        { field: alias, constraints: { exclusive: `${alias} is the cmdlet's name for ${field}: give one of them, not both` } },
      ]);
    }
    const { [alias]: value, ...rest } = resolved;
    const converted = convert(value);
    if ('problem' in converted) throw InvalidInput.schema(name, [{ field: alias, constraints: { schema: converted.problem } }]);
    resolved = { ...rest, [field]: converted.value };
  }
  return resolved;
}

function asPlainObject(body: unknown, name: string): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw InvalidInput.notAnObject(name, body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`);
  }
  const prototype: unknown = Object.getPrototypeOf(body);
  if (prototype !== Object.prototype && prototype !== null) throw InvalidInput.notAnObject(name, 'a class instance');
  return body as Record<string, unknown>;
}

// A field's value (1) and the values inside it (2) may be objects or arrays; nothing deeper. Checked
// before class-transformer, which recurses without bound (a deeply nested body would overflow the stack).
const MAX_NESTING = 2;

/**
 * What the schema cannot safely see: unknown top-level fields (reported with the accepted ones),
 * nesting deeper than any body has, and keys of `Object.prototype` (`__proto__`, `constructor`,
 * `toString`, ...), which class-transformer would drop silently or misuse.
 */
function screen(body: Record<string, unknown>, fields: ReadonlySet<string>, name: string): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const key of Object.keys(body)) {
    if (!fields.has(key)) {
      problems.push({
        field: key,
        constraints: { whitelistValidation: `${key} is not a field of ${name}; its fields are ${[...fields].join(', ')}` },
      });
      continue;
    }
    const problem = screenValue(body[key], key, 1);
    if (problem) problems.push(problem);
  }
  return problems;
}

function screenValue(value: unknown, path: string, depth: number): SchemaProblem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > MAX_NESTING) {
    return { field: path, constraints: { maxDepth: `${path} must not be an object or an array here` } };
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = screenValue(value[index], `${path}[${index}]`, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const child = `${path}.${key}`;
    if (key in Object.prototype) return { field: child, constraints: { whitelistValidation: `${child} is not an accepted field` } };
    const problem = screenValue((value as Record<string, unknown>)[key], child, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/** class-validator's error tree as a flat list of dotted paths (`services.web`), messages rewritten to name the path. */
function problemsOf(errors: readonly ValidationError[], parent: string): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const error of errors) {
    const property = String(error.property ?? '');
    const field = parent === '' ? property : /^\d+$/.test(property) ? `${parent}[${property}]` : `${parent}.${property}`;
    if (error.constraints && Object.keys(error.constraints).length > 0) {
      problems.push({ field, constraints: describe(field, property, error.constraints) });
    }
    // Children of a value that is not an object at all (an array given for `services`) only repeat that.
    const notAnObject = error.constraints?.['isObject'] !== undefined;
    if (!notAnObject && error.children && error.children.length > 0) problems.push(...problemsOf(error.children, field));
  }
  return problems;
}

// A missing field also fails its type and length checks, a field given alongside its exclusive
// siblings fails whatever else, a value of the wrong type fails its length or element checks: the
// first of these that failed explains the others, and is the one kept.
const DECISIVE_CONSTRAINTS = ['isDefined', 'exactlyOneOf', 'isObject', 'isArray', 'isString', 'isBoolean'];

function describe(field: string, property: string, constraints: Readonly<Record<string, string>>): Record<string, string> {
  const decisive = DECISIVE_CONSTRAINTS.find((key) => constraints[key] !== undefined);
  const kept = decisive === undefined ? Object.entries(constraints) : [[decisive, constraints[decisive] ?? ''] as const];
  const described: Record<string, string> = {};
  for (const [key, message] of kept) {
    if (key === 'whitelistValidation') described[key] = `${field} is not an accepted field`;
    else if (property !== '' && message.startsWith(`${property} `)) described[key] = `${field}${message.slice(property.length)}`;
    else described[key] = field === '' ? message : `${field}: ${message}`;
  }
  return described;
}
