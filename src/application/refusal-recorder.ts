import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EVENT_STORE, EventStore, JsonObject, JsonValue } from '../event-store/event-store';
import { visibleText } from '../domain/shared/plain-text';
import { auditMetadata, CommandContext } from './audit';
import { refusalStreamId } from './streams';
import { withSchemaVersion } from '../domain/events';

export interface Refusal {
  readonly deployment: string;
  /** The command name as the caller sent it (it may not exist). */
  readonly command: string;
  readonly input: JsonValue;
  readonly status: number;
  readonly error: { readonly code: string; readonly message: string; readonly details: JsonObject };
  readonly context: CommandContext;
}

const MAX_RECORDED_INPUT = 16 * 1024;

/**
 * The input as it will be recorded: whole when small, else its start. A body nested so deeply that it
 * cannot even be encoded (JSON.stringify exhausts the stack) is recorded as such; it must never
 * take the process down with it.
 */
function recordableInput(input: JsonValue): JsonValue {
  let encoded: string;
  try {
    input = visibleJson(input ?? null);
    encoded = JSON.stringify(input);
  } catch (error) {
    return { truncated: true, unencodable: error instanceof Error ? error.message : String(error) };
  }
  return encoded.length <= MAX_RECORDED_INPUT ? input : { truncated: true, bytes: encoded.length, start: encoded.slice(0, 1024) };
}

/**
 * The input with every string (and key) in plain text: a character the plain-text rule refuses is
 * recorded as its code point (`<U+001B>`), so that the record says what was sent and no reader's
 * terminal acts on it. Accepted commands never hold such characters: their fields are validated.
 */
function visibleJson(value: JsonValue): JsonValue {
  if (typeof value === 'string') return visibleText(value);
  if (Array.isArray(value)) return value.map(visibleJson);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [visibleText(key), visibleJson(item)]));
  return value;
}

/**
 * Records refused commands (invalid input, illegal state, conflicts) in the deployment's refusal
 * stream, apart from its topology: the attempt is part of the audit trail, the topology is untouched.
 */
@Injectable()
export class RefusalRecorder {
  private readonly logger = new Logger('Audit');

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async record(refusal: Refusal): Promise<void> {
    try {
      const input = recordableInput(refusal.input);
      await this.store.appendToStream(
        refusalStreamId(refusal.deployment),
        [
          withSchemaVersion({
            id: randomUUID(),
            type: 'CommandRefused',
            data: { command: visibleText(refusal.command), deployment: refusal.deployment, input, status: refusal.status, error: visibleJson(refusal.error) },
            metadata: auditMetadata(refusal.context, { deployment: refusal.deployment, command: refusal.command }),
          }),
        ],
        { expectedRevision: 'any' },
      );
    } catch (error) {
      // The caller still gets the original refusal; losing its record is logged, never hidden.
      this.logger.error(`could not record refused ${refusal.command}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
