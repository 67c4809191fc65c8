import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { AuditController } from './api/audit.controller';
import { CommandsController } from './api/commands.controller';
import { DoorGuard } from './api/door';
import { TokensController } from './api/tokens.controller';
import { AccessDeniedRecorder } from './application/access-denied-recorder';
import { AuditMonitor } from './application/audit-monitor';
import { ApiTokens } from './application/api-tokens';
import { Authenticator, LOCAL_SESSION, LocalSession } from './application/authentication';
import { ApiExceptionFilter } from './api/exception.filter';
import { HealthController } from './api/health.controller';
import { LiveController } from './api/live.controller';
import { MigrationsController } from './api/migrations.controller';
import { SessionController } from './api/session.controller';
import { QueriesController } from './api/queries.controller';
import { ObservationsController } from './api/observations.controller';
import { EventsController } from './api/events.controller';
import { Observations } from './application/observations/observations';
import { ReadModelsModule } from './application/read-models.module';
import { ExecuteMigrationCommandHandler } from './application/execute-migration-command';
import { ExecuteTopologyCommandHandler } from './application/execute-topology-command';
import { RefusalRecorder } from './application/refusal-recorder';
import { TopologyRepository } from './application/topology-repository';
import type { Config } from './config/config';
import { ConfigModule } from './config/config.module';
import type { EventStore } from './event-store/event-store';
import { EventStoreModule } from './event-store/event-store.module';

@Module({})
export class AppModule {
  static forRoot(config: Config, store: EventStore, localSession: LocalSession): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), EventStoreModule.forRoot(store), CqrsModule.forRoot(), ReadModelsModule],
      controllers: [HealthController, CommandsController, QueriesController, MigrationsController, TokensController, AuditController, LiveController, SessionController, ObservationsController, EventsController],
      providers: [
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        { provide: APP_GUARD, useClass: DoorGuard },
        { provide: LOCAL_SESSION, useValue: localSession },
        ApiTokens,
        Authenticator,
        AccessDeniedRecorder,
        TopologyRepository,
        RefusalRecorder,
        ExecuteTopologyCommandHandler,
        ExecuteMigrationCommandHandler,
        Observations,
        AuditMonitor,
      ],
    };
  }
}
