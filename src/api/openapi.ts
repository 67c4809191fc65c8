import type { INestApplication } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiSchema, DocumentBuilder, getSchemaPath, SwaggerModule, type ApiPropertyOptions } from '@nestjs/swagger';
import { COMMAND_ROUTE_KEY, rolesAllowed } from '../application/authorization';
import { COMMANDS } from '../application/commands/command-registry';
import { documentation, type DocumentationRecord } from '../application/commands/documentation';
import { PRODUCT_VERSION } from '../version';

const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', example: 'SIP_ADDRESS_IN_USE' }, message: { type: 'string' }, details: { type: 'object' } },
    },
  },
};

const RESULT_SCHEMA = {
  type: 'object',
  properties: {
    commandId: { type: 'string', format: 'uuid' },
    deployment: { type: 'string' },
    events: {
      type: 'array',
      items: { type: 'object', properties: { type: { type: 'string' }, data: { type: 'object' }, streamId: { type: 'string' }, revision: { type: 'integer' } } },
    },
    position: { type: 'integer', description: 'Global position of the last event; pass as ?minPosition= to read your writes' },
    warnings: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, rule: { type: 'string' }, message: { type: 'string' } } } },
    whatIf: { type: 'boolean' },
  },
};

const described = new WeakSet<DocumentationRecord>();

/**
 * The command bodies' documentation as OpenAPI decorations: each record becomes the decorator it
 * stands for, in the order the body classes recorded them (once per process).
 */
function describeCommandBodies(): void {
  for (const record of documentation()) {
    if (described.has(record)) continue;
    described.add(record);
    if (record.kind === 'schema') {
      ApiSchema(record.doc)(record.target as unknown as new () => object);
    } else {
      const options = record.doc as ApiPropertyOptions;
      (record.required ? ApiProperty(options) : ApiPropertyOptional(options))(record.target, record.property);
    }
  }
}

/**
 * Serves the OpenAPI description at `/api/docs` (JSON at `/api/docs-json`). Command routes share one
 * handler, so their paths are written here from the registry: one path per command, its body the
 * command's DTO schema (generated from the class-validator DTOs).
 */
export function setUpOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('topology-ledger')
    .setDescription('Event-sourced topology of Lync Server 2013 / Skype for Business Persistent Chat deployments')
    .setVersion(PRODUCT_VERSION)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API token (topo tokens create) or an OIDC JWT' }, 'bearer')
    .build();
  describeCommandBodies();
  const definitions = [...COMMANDS.values()];
  const document = SwaggerModule.createDocument(app, config, { extraModels: definitions.map((d) => d.dto) });
  delete document.paths['/api/commands/{name}'];
  // Every route but /health needs a credential.
  document.security = [{ bearer: [] }];
  for (const definition of definitions) {
    document.paths[`/api/commands/${definition.name}`] = {
      post: {
        operationId: definition.name,
        summary: definition.summary,
        tags: ['commands'],
        parameters: [
          { name: 'whatIf', in: 'query', required: false, schema: { type: 'boolean' }, description: 'Decide and return the events that would be appended; append nothing' },
          {
            name: 'deployment',
            in: 'query',
            required: false,
            schema: { type: 'string' },
            description: 'The deployment, when the body does not name it (a body and a query that disagree are refused). No other query parameter is accepted.',
          },
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' }, description: 'A repeat with the same key returns the first result and appends nothing' },
          { name: 'X-Reason', in: 'header', required: false, schema: { type: 'string' }, description: 'Change reason or ticket (the body field `reason` wins)' },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: getSchemaPath(definition.dto) } } } },
        responses: {
          '200': { description: 'Accepted: the events appended (or, with whatIf, that would be)', content: { 'application/json': { schema: RESULT_SCHEMA } } },
          '400': { description: 'Invalid input: details.field and details.rule name what and why', content: { 'application/json': { schema: ERROR_SCHEMA } } },
          '401': { description: 'No credential, or one that is unknown, revoked or expired', content: { 'application/json': { schema: ERROR_SCHEMA } } },
          '403': {
            description: `The caller's role may not run it; roles that may: ${rolesAllowed({ route: COMMAND_ROUTE_KEY, command: definition.name }).join(', ')}`,
            content: { 'application/json': { schema: ERROR_SCHEMA } },
          },
          '404': { description: 'Unknown command or entity', content: { 'application/json': { schema: ERROR_SCHEMA } } },
          '409': { description: 'Illegal in the current topology (details.rule) or a concurrency conflict', content: { 'application/json': { schema: ERROR_SCHEMA } } },
        },
      },
    };
  }
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
}
