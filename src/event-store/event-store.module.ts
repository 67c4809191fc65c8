import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { EVENT_STORE, EventStore } from './event-store';

/** Provides the event store opened before the application starts (so a bad store file stops start-up cleanly). */
@Global()
@Module({})
export class EventStoreModule implements OnApplicationShutdown {
  static forRoot(store: EventStore): DynamicModule {
    return { module: EventStoreModule, providers: [{ provide: EVENT_STORE, useValue: store }], exports: [EVENT_STORE] };
  }

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
