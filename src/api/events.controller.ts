import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JsonObject } from '../event-store/event-store';
import { PROJECT_ROOT } from '../version';

/** The committed event catalog (`npm run events:catalog` generates it from the event types). */
export const EVENT_CATALOG_FILE = path.join(PROJECT_ROOT, 'docs', 'events', 'catalog.json');

/** The event catalog: every event type the log holds, its current version and its JSON Schema. */
@ApiTags('events')
@Controller('api/events')
export class EventsController {
  private readonly catalog = JSON.parse(fs.readFileSync(EVENT_CATALOG_FILE, 'utf8')) as JsonObject;

  @Get('catalog')
  @ApiOperation({ summary: 'Every event type of the log: its current schema version, its stream category and the JSON Schema (draft-07) of its data' })
  read(): JsonObject {
    return this.catalog;
  }
}
