import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { entityHistory, parseEntityFilter, queryAudit } from '../../projections/audit-trail/audit-trail.query';
import { auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { findEndpoints } from '../../projections/endpoint-directory/endpoint-directory.query';
import { endpointDirectoryProjection } from '../../projections/endpoint-directory/endpoint-directory.projection';
import { ReadModels } from '../../projections/runner/projection-runner';
import { diffTopologyBetween, listDeployments, positionAsOf, positionOfMoment, readTopology } from '../../projections/topology/topology.query';
import { topologyProjection } from '../../projections/topology/topology.projection';
import type { JsonObject } from '../event-store/event-store';
import { InvalidInput } from '../application/commands/input-errors';
import { flag, position, QueryParams, readOptions, ReadOptions, single } from './read-options';

const TOPOLOGY = topologyProjection.name;
const DIRECTORY = endpointDirectoryProjection.name;
const AUDIT = auditTrailProjection.name;

/** The read side: every answer comes from a read model, never from scanning the log. */
/** The query parameters of `GET /api/audit`: its filters, paging, and read-your-writes. */
const AUDIT_QUERY = ['deployment', 'actor', 'entity', 'command', 'outcome', 'from', 'to', 'limit', 'cursor', 'minPosition', 'waitMs'] as const;

@Controller('api')
export class QueriesController {
  constructor(private readonly runner: ReadModels) {}

  @Get('projections')
  async projections(): Promise<JsonObject> {
    return { projections: (await this.runner.statuses()) as unknown as JsonObject[] };
  }

  @Post('projections/:name/rebuild')
  @HttpCode(202)
  async rebuild(@Param('name') name: string): Promise<JsonObject> {
    return { name, generation: await this.runner.rebuild(name) };
  }

  @Get('deployments')
  async deployments(@Query() params: QueryParams): Promise<JsonObject> {
    await this.ready([TOPOLOGY], readOptions(params));
    return { deployments: listDeployments(this.runner.reader(TOPOLOGY)) };
  }

  @Get('topology')
  async topology(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions(params);
    await this.ready([TOPOLOGY], options);
    return readTopology(this.runner.reader(TOPOLOGY), options.deployment, this.moment(options)) as unknown as JsonObject;
  }

  @Get('topology/diff')
  async diff(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions(params);
    await this.ready([TOPOLOGY], options);
    const reader = this.runner.reader(TOPOLOGY);
    const at = (field: 'from' | 'to'): number => {
      const value = single(params, field);
      if (value === undefined) {
        if (field === 'to') return this.runner.checkpoint(TOPOLOGY);
        throw new InvalidInput('from is required: a log position or an ISO-8601 time', { field });
      }
      const resolved = positionOfMoment(reader, options.deployment, value);
      if (resolved === undefined) throw new InvalidInput(`${field} must be a log position or an ISO-8601 time, got '${value}'`, { field });
      return resolved;
    };
    return diffTopologyBetween(reader, options.deployment, at('from'), at('to')) as unknown as JsonObject;
  }

  @Get('endpoints')
  async endpoints(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions(params);
    await this.ready([DIRECTORY, TOPOLOGY], options);
    const atPosition = this.moment(options);
    const resultSize = position(params, 'resultSize', 'a number of results');
    const includeAll = flag(params, 'includeAll');
    const filter = single(params, 'sipAddress') ?? single(params, 'filter');
    const identity = single(params, 'identity');
    const pool = single(params, 'pool');
    const endpoints = findEndpoints(this.runner.reader(DIRECTORY), {
      deployment: options.deployment,
      ...(identity !== undefined ? { identity } : {}),
      ...(pool !== undefined ? { pool } : {}),
      ...(filter !== undefined ? { filter } : {}),
      ...(resultSize !== undefined ? { resultSize } : {}),
      ...(atPosition !== undefined ? { atPosition } : {}),
      ...(includeAll ? { includeAll: true } : {}),
    });
    return { deployment: options.deployment, ...(atPosition !== undefined ? { atPosition } : {}), endpoints } as unknown as JsonObject;
  }

  @Get('audit')
  async audit(@Query() params: QueryParams): Promise<JsonObject> {
    // A filter the trail does not know is refused, not ignored: ignoring it would answer the whole trail.
    const unknown = Object.keys(params).filter((name) => !AUDIT_QUERY.includes(name as (typeof AUDIT_QUERY)[number]));
    if (unknown.length > 0) {
      const named = unknown.map((name) => {
        const near = AUDIT_QUERY.find((k) => k.toLowerCase() === name.toLowerCase());
        return `'${name}'${near ? ` (did you mean '${near}'?)` : ''}`;
      });
      throw new InvalidInput(
        `GET /api/audit takes no query parameter ${named.join(', ')}; it takes ${AUDIT_QUERY.join(', ')}.`,
        { field: unknown[0]!, rule: 'schema', ...(unknown.length > 1 ? { details: { fields: unknown } } : {}) },
      );
    }
    const options = readOptions({ ...params, deployment: undefined });
    await this.ready([AUDIT], options);
    return queryAudit(this.runner.reader(AUDIT), {
      deployment: single(params, 'deployment')?.toLowerCase(),
      actor: single(params, 'actor'),
      entity: single(params, 'entity'),
      command: single(params, 'command'),
      outcome: single(params, 'outcome'),
      from: single(params, 'from'),
      to: single(params, 'to'),
      limit: single(params, 'limit'),
      cursor: single(params, 'cursor'),
    }) as unknown as JsonObject;
  }

  /** An entity's full history, oldest first: `/api/audit/history?entity=endpoint:sip:persistentchat@contoso.com`. */
  @Get('audit/history')
  async history(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions(params);
    await this.ready([AUDIT], options);
    const entity = single(params, 'entity');
    if (entity === undefined) throw new InvalidInput('entity is required, e.g. endpoint:sip:persistentchat@contoso.com', { field: 'entity' });
    const { kind, id } = parseEntityFilter(entity);
    return { deployment: options.deployment, entity, entries: entityHistory(this.runner.reader(AUDIT), options.deployment, kind, id) } as unknown as JsonObject;
  }

  /** Read your writes: a `minPosition` waits (bounded) for the projections the answer comes from; without, the live ones are waited for up to the log's head (see `readAfter`). */
  private async ready(names: readonly string[], options: ReadOptions): Promise<void> {
    await this.runner.readAfter(names, options.minPosition, options.waitMs);
  }

  private moment(options: ReadOptions): number | undefined {
    if (options.atPosition !== undefined) return options.atPosition;
    if (options.asOf !== undefined) return positionAsOf(this.runner.reader(TOPOLOGY), options.deployment, new Date(options.asOf));
    return undefined;
  }
}
