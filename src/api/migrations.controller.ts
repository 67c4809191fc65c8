import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { MIGRATION_STATUSES, MigrationNotFound } from '../domain';
import { listMigrations, migrationDetail, migrationRunbook, type MigrationDetail } from '../../projections/migrations/migrations.query';
import { migrationsProjection } from '../../projections/migrations/migrations.projection';
import { ReadModels } from '../../projections/runner/projection-runner';
import { driftProjection } from '../../projections/drift/drift.projection';
import { stepConfirmations } from '../../projections/drift/drift.query';
import type { JsonObject } from '../event-store/event-store';
import { oneOf, QueryParams, readOptions } from './read-options';

const MIGRATIONS = migrationsProjection.name;

/** Migrations and their steps, from the migrations read model. */
@Controller('api/migrations')
export class MigrationsController {
  constructor(private readonly runner: ReadModels) {}

  @Get()
  async list(@Query() params: QueryParams): Promise<JsonObject> {
    const options = readOptions(params);
    await this.ready(options.minPosition, options.waitMs);
    const status = oneOf(params, 'status', MIGRATION_STATUSES);
    return { deployment: options.deployment, migrations: listMigrations(this.runner.reader(MIGRATIONS), options.deployment, status) } as unknown as JsonObject;
  }

  @Get(':id')
  async detail(@Param('id') id: string, @Query() params: QueryParams): Promise<JsonObject> {
    const detail = await this.find(id, params);
    const options = readOptions(params);
    await this.runner.readAfter([driftProjection.name], options.minPosition, options.waitMs);
    // Each step's effects as later observations of the real deployment saw them (empty: nothing observable).
    const confirmations = stepConfirmations(this.runner.reader(driftProjection.name), detail.migrationId);
    const steps = detail.steps.map((step) => ({ ...step, observed: confirmations.filter((c) => c.step === step.step) }));
    return { ...detail, steps } as unknown as JsonObject;
  }

  /** The PowerShell runbook, as a `.ps1` download. */
  @Get(':id/runbook')
  async runbook(@Param('id') id: string, @Query() params: QueryParams, @Res({ passthrough: true }) response: Response): Promise<string> {
    const detail = await this.find(id, params);
    // Set once the migration is found: a refusal is answered as JSON, like any other.
    response.type('text/plain; charset=utf-8');
    response.setHeader('content-disposition', `attachment; filename="migration-${detail.migrationId}.ps1"`);
    return migrationRunbook(detail);
  }

  private async find(id: string, params: QueryParams): Promise<MigrationDetail> {
    const options = readOptions(params);
    await this.ready(options.minPosition, options.waitMs);
    const detail = migrationDetail(this.runner.reader(MIGRATIONS), id);
    if (!detail) throw new MigrationNotFound(id);
    return detail;
  }

  private async ready(minPosition: number | undefined, waitMs: number): Promise<void> {
    await this.runner.readAfter([MIGRATIONS], minPosition, waitMs);
  }
}
