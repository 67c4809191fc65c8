import { Controller, Get, Inject, Req } from '@nestjs/common';
import type { Request } from 'express';
import { authorize, COMMAND_POLICY, COMMAND_ROUTE_KEY, type Principal, ROUTE_POLICY } from '../application/authorization';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import type { JsonObject } from '../event-store/event-store';
import { principalOf } from './door';

/**
 * `GET /api/session`: who the caller is and what their roles may do, by the same policy the door
 * enforces, so that a client (the console) can leave out what would be refused.
 */
@Controller('api/session')
export class SessionController {
  constructor(@Inject(CONFIG) private readonly config: Config) {}

  @Get()
  session(@Req() request: Request): JsonObject {
    // Without authentication every caller is the configured actor, with every right.
    const principal: Principal = principalOf(request) ?? { actor: this.config.defaultActor, roles: ['admin'], authenticated: false, via: 'none' };
    const commands: string[] = [];
    const routes: string[] = [];
    // What the rest would be answered (403), by command name or route: a client can say why it leaves them out.
    const denied: Record<string, string> = {};
    for (const command of COMMAND_POLICY.keys()) {
      const decision = authorize(principal, { route: COMMAND_ROUTE_KEY, command });
      if (decision.allowed) commands.push(command);
      else denied[command] = decision.denial.message;
    }
    for (const route of ROUTE_POLICY.keys()) {
      const decision = authorize(principal, { route });
      if (decision.allowed) routes.push(route);
      else denied[route] = decision.denial.message;
    }
    return { actor: principal.actor, roles: [...principal.roles], authenticated: principal.authenticated, commands, routes, denied };
  }
}
