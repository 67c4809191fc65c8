import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, JWTPayload, jwtVerify } from 'jose';
import { timingSafeEqual } from 'node:crypto';
import type { Config, OidcConfig } from '../config/config';
import { CONFIG } from '../config/config.module';
import { firstHiddenCharacter } from '../domain/shared/plain-text';
import { ApiTokens, credentialFingerprint, JWT_FORM } from './api-tokens';
import { AccessDenied, isRole, Principal, Role } from './authorization';
import { LOCAL_SESSION, type LocalSession } from './local-session';
export { LOCAL_SESSION, LOCAL_USER_HEADER, type LocalSession } from './local-session';

const LOCAL_USER = /^[\w.@\\-]{1,128}$/;

/** Who a request is, or why it is nobody. */
export type Authentication =
  | { readonly ok: true; readonly principal: Principal; readonly fingerprint: string | null }
  | { readonly ok: false; readonly denial: AccessDenied; readonly fingerprint: string | null };


/** Turns an `Authorization` header into a principal: an API token, an OIDC JWT, or the local session. */
@Injectable()
export class Authenticator {
  private readonly oidc: OidcVerifier | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly tokens: ApiTokens,
    @Inject(LOCAL_SESSION) private readonly local: LocalSession,
  ) {
    this.oidc = config.oidc ? new OidcVerifier(config.oidc) : undefined;
  }

  async authenticate(authorization: string | undefined, localUser: string | undefined): Promise<Authentication> {
    if (this.config.authentication === 'off') {
      return { ok: true, principal: { actor: this.config.defaultActor, roles: ['admin'], authenticated: false, via: 'none' }, fingerprint: null };
    }
    if (authorization === undefined || authorization.trim() === '') return denied('no credential', null);
    const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization);
    const fingerprint = credentialFingerprint(authorization.replace(/^Bearer[ \t]+/i, '').trim());
    if (!match) return denied('the Authorization header is not "Bearer <token>"', fingerprint);
    const credential = match[1]!;

    if (sameSecret(credential, this.local.secret)) {
      const actor = localUser !== undefined && LOCAL_USER.test(localUser) ? localUser : 'local';
      return { ok: true, principal: { actor, roles: ['admin'], authenticated: false, via: 'local' }, fingerprint };
    }
    if (this.oidc !== undefined && JWT_FORM.test(credential)) {
      const verified = await this.oidc.verify(credential);
      return 'reason' in verified ? denied(verified.reason, fingerprint) : { ok: true, principal: verified, fingerprint };
    }
    const check = await this.tokens.check(credential);
    if (!check.ok) return denied(check.reason, fingerprint);
    return { ok: true, principal: { actor: check.token.name, roles: [check.token.role], authenticated: true, via: 'api_token' }, fingerprint };
  }
}

function denied(reason: string, fingerprint: string | null): Authentication {
  return { ok: false, denial: AccessDenied.unauthenticated(reason), fingerprint };
}

function sameSecret(presented: string, secret: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Seconds a JWT's times may be off this machine's clock (its `exp`, `nbf` and `iat`). */
export const CLOCK_TOLERANCE_S = 30;
const MAX_SUBJECT = 256;

/** Verifies OIDC JWTs against the issuer's JWKS (fetched and cached by jose) and maps a claim to roles. */
export class OidcVerifier {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly config: OidcConfig) {
    this.keys = createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  }

  async verify(jwt: string): Promise<Principal | { reason: string }> {
    let payload: JWTPayload;
    try {
      // A JWT without `exp` would be good forever: refused.
      ({ payload } = await jwtVerify(jwt, this.keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      return { reason: jwtFailure(error) };
    }
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_S) return { reason: 'JWT claim iat is in the future' };
    if (typeof payload.sub !== 'string' || payload.sub === '') return { reason: 'the JWT has no subject' };
    // The subject is recorded as the actor of everything the caller does: plain text, like every recorded name.
    if (payload.sub.length > MAX_SUBJECT || firstHiddenCharacter(payload.sub) !== undefined) {
      return { reason: `the JWT subject is not plain text of at most ${MAX_SUBJECT} characters` };
    }
    const roles = rolesFromClaim(claimAt(payload, this.config.roleClaim), this.config.roleMap);
    return { actor: payload.sub, roles, authenticated: true, via: 'oidc' };
  }
}

/**
 * A claim by a dotted path through nested objects (`realm_access.roles`), only ever through nesting: a
 * top-level claim whose name has a dot in it is not the nested claim (it could be anyone's addition).
 */
function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Each claim value the map names gives its role; other values give none. */
export function rolesFromClaim(claim: unknown, map: ReadonlyMap<string, string>): Role[] {
  const values = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim.filter((v): v is string => typeof v === 'string') : [];
  const roles = new Set<Role>();
  for (const value of values) {
    const role = map.get(value);
    if (role !== undefined && isRole(role)) roles.add(role);
  }
  return [...roles];
}

function jwtFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'JWT expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `JWT claim ${error.claim} is not acceptable`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'JWT signature does not verify';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'JWT signed by a key the issuer does not publish';
  if (error instanceof joseErrors.JOSEError) return `JWT refused (${error.code})`;
  return 'JWT could not be verified';
}
