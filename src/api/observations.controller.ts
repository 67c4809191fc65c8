import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, RequestHandler, Response } from 'express';
import { raw } from 'express';
import { latestObservation, listDrift } from '../../projections/drift/drift.query';
import { driftProjection } from '../../projections/drift/drift.projection';
import { ReadModels } from '../../projections/runner/projection-runner';
import { Observations } from '../application/observations/observations';
import type { DocumentKind } from '../application/observations/parse-snapshot';
import { SNAPSHOT_JSON_SCHEMA } from '../application/observations/snapshot-schema';
import { observationRunbook } from '../domain/observation';
import type { JsonObject } from '../event-store/event-store';
import { InvalidInput } from '../application/commands/input-errors';
import { principalOf, requestContext } from './door';
import { flag, type QueryParams, readOptions } from './read-options';
import { headerText } from './headers';

/** The largest observation document accepted (a snapshot of 50,000 endpoints is about 6 MB). */
export const OBSERVATION_BODY_LIMIT = '64mb';

const MEDIA_TYPES: ReadonlyMap<string, DocumentKind> = new Map([
  ['application/json', 'json'],
  ['application/xml', 'xml'],
  ['text/xml', 'xml'],
]);

/** Reads an observation's body as bytes, whatever its media type, so that its SHA-256 is of the document as sent. */
export function observationBodyParser(): RequestHandler {
  return raw({ type: () => true, limit: OBSERVATION_BODY_LIMIT });
}

/** Observations of the real deployment, and the drift they find. */
@ApiTags('observations')
@Controller('api')
export class ObservationsController {
  constructor(
    private readonly observations: Observations,
    private readonly runner: ReadModels,
  ) {}

  /** The snapshot's JSON Schema. */
  @Get('observations/schema')
  @ApiOperation({ summary: "The snapshot's JSON Schema (draft-07), versioned by schemaVersion" })
  schema(): JsonObject {
    return SNAPSHOT_JSON_SCHEMA as unknown as JsonObject;
  }

  /** The snapshot a collector would send if the deployment matched the ledger exactly. */
  @Get('observations/expected')
  @ApiOperation({ summary: 'The snapshot a collector would send if the deployment matched the ledger exactly; posting it back gives drift: []' })
  @ApiQuery({ name: 'deployment', required: false })
  async expected(@Query() params: QueryParams): Promise<JsonObject> {
    const { deployment } = readOptions(params);
    return this.observations.expected(deployment, new Date());
  }

  /** The way back: the cmdlet lines that would bring the deployment to the ledger's state for an observation's open drift. */
  @Get('observations/:id/runbook')
  @ApiOperation({ summary: "The cmdlet lines (.ps1) that would bring the deployment back to the ledger's state, for the open drift of the deployment's newest observation" })
  @ApiQuery({ name: 'deployment', required: false })
  async runbook(@Param('id') id: string, @Query() params: QueryParams, @Res({ passthrough: true }) response: Response): Promise<string> {
    const { deployment } = readOptions(params);
    const items = await this.observations.openDrift(deployment, id);
    const latest = latestObservation(this.runner.reader(driftProjection.name), deployment);
    // Set once the runbook is made: a refusal is answered as JSON, like any other.
    response.type('text/plain; charset=utf-8');
    response.setHeader('content-disposition', `attachment; filename="observation-${id}.ps1"`);
    return observationRunbook({ deployment, observationId: id, collectedAt: latest?.observationId === id ? latest.collectedAt : null, items });
  }

  /** Records a snapshot (JSON) or a topology document (XML) and answers the drift it shows. */
  @Post('observations')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Records an observation (a snapshot, or the topology XML of Get-CsTopology -AsXml) and answers { observationId, recorded, drift: [{ entity, kind, ledger, observed, fields? }], position }; ' +
      'the same document again records nothing. 400 INVALID_SNAPSHOT names the JSON path and what was expected.',
  })
  @ApiConsumes('application/json', 'application/xml')
  @ApiBody({ description: 'A snapshot (schema at GET /api/observations/schema) or a topology document (XML, no DTD)', schema: { type: 'object' } })
  @ApiQuery({ name: 'deployment', required: false })
  @ApiHeader({ name: 'X-Reason', required: false, description: 'Why the observation is sent, or its ticket' })
  async record(@Req() request: Request, @Query() params: QueryParams): Promise<JsonObject> {
    const { deployment } = readOptions(params);
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const kind = MEDIA_TYPES.get(mediaType);
    if (kind === undefined) {
      throw new InvalidInput(`Content-Type must be application/json (a snapshot) or application/xml (a topology document), got '${mediaType || '(none)'}'. Nothing was recorded.`, {
        field: 'content-type',
      });
    }
    const body: unknown = request.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw new InvalidInput('The observation has no body. Nothing was recorded.', { field: 'body' });
    const reason = headerText(request, 'x-reason')?.trim() || null;
    const context = { ...requestContext(request, principalOf(request)), reason };
    const answer = await this.observations.record(deployment, body, kind, context);
    return answer as unknown as JsonObject;
  }

  /** Open drift of a deployment (`?all=true`: resolved drift too, with how it was resolved), and its newest observation (the one to adopt from). */
  @Get('drift')
  @ApiOperation({ summary: 'Open drift of a deployment (all=true: resolved too, with how), and its newest observation' })
  @ApiQuery({ name: 'deployment', required: false })
  @ApiQuery({ name: 'all', required: false, type: Boolean })
  async drift(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions(params);
    await this.runner.readAfter([driftProjection.name], options.minPosition, options.waitMs);
    const reader = this.runner.reader(driftProjection.name);
    return {
      deployment: options.deployment,
      latestObservation: latestObservation(reader, options.deployment),
      drift: listDrift(reader, options.deployment, flag(params, 'all')),
    } as unknown as JsonObject;
  }
}
