import { DynamicModule, Module } from '@nestjs/common';
import { HealthController } from './api/health.controller';
import type { Config } from './config/config';
import type { EventStore } from './event-store/event-store';
import { ConfigModule } from './config/config.module';
import { EventStoreModule } from './event-store/event-store.module';

@Module({})
export class AppModule {
  static forRoot(config: Config, store: EventStore): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), EventStoreModule.forRoot(store)],
      controllers: [HealthController],
    };
  }
}
