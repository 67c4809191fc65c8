import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiTokens, parseExpiry, TokenRefused } from '../application/api-tokens';
import type { JsonObject } from '../event-store/event-store';
import { principalOf, requestContext } from './door';
import { headerText } from './headers';

function field(body: unknown, name: string, required: boolean): string | undefined {
  const value = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)[name] : undefined;
  if (value === undefined || value === null) {
    if (required) throw new TokenRefused('INVALID_INPUT', `${name} is required`, name);
    return undefined;
  }
  if (typeof value !== 'string') throw new TokenRefused('INVALID_INPUT', `${name} must be a string`, name);
  return value;
}

/**
 * API tokens (admins only, see the policy): `POST /api/tokens { name, role, expires? }` answers the
 * token's secret, the only time it is shown; `GET /api/tokens` lists them; `DELETE /api/tokens/<id|name>` revokes one.
 */
@Controller('api/tokens')
export class TokensController {
  constructor(private readonly tokens: ApiTokens) {}

  @Get()
  async list(): Promise<JsonObject> {
    return { tokens: (await this.tokens.list()) as unknown as JsonObject[] };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() request: Request): Promise<JsonObject> {
    const name = field(body, 'name', true)!;
    const role = field(body, 'role', true)!;
    const context = this.context(request);
    const expiresAt = parseExpiry(field(body, 'expires', false), new Date(context.occurredAt));
    const issued = await this.tokens.issue({ name, role, expiresAt }, context);
    if (issued === undefined) throw new Error('a token was not issued');
    return { token: issued.token as unknown as JsonObject, secret: issued.secret };
  }

  @Delete(':token')
  async revoke(@Param('token') idOrName: string, @Req() request: Request): Promise<JsonObject> {
    return { token: (await this.tokens.revoke(idOrName, this.context(request))) as unknown as JsonObject };
  }

  private context(request: Request): ReturnType<typeof requestContext> {
    return { ...requestContext(request, principalOf(request)), reason: headerText(request, 'x-reason') ?? null };
  }
}
