/**
 * The audit records the log keeps beside the domain's facts: refused commands, denied attempts and
 * the API token registry. Their `data` is plain JSON; these types are what the event catalog
 * publishes for them and what the read boundary hands out.
 */

import type { JsonValue } from '../../common/json';

/** A refused command (invalid input, illegal state, conflict), in `refused_command-<deployment>`. */
export type CommandRefused = {
  type: 'CommandRefused';
  data: {
    /** The command name as the caller sent it (it may not exist). */
    command: string;
    deployment: string;
    /** The input as sent, in plain text; its start only when large. */
    input: JsonValue;
    status: number;
    error: { code: string; message: string; details: { [key: string]: JsonValue } };
  };
};

/**
 * A denied attempt (401, 403), in `access_denied-<deployment>`. Version 2: repeats within a window
 * are one event, with how many (`attempts`) and when the first and last happened. Version 1 (before
 * aggregation) stood for one attempt and had none of the three fields.
 */
export type AccessDenied = {
  type: 'AccessDenied';
  data: {
    /** The verified principal's name (a 403), or null when nobody was recognised (a 401). */
    principal: string | null;
    /** The first 12 hex digits of the presented credential's SHA-256; null when none was presented. */
    credentialFingerprint: string | null;
    route: string;
    method: string;
    command: string | null;
    clientAddress: string | null;
    status: number;
    reason: string;
    deployment: string;
    error: { code: string; message: string; details: { [key: string]: JsonValue } };
    attempts: number;
    firstOccurredAt: string;
    lastOccurredAt: string;
  };
};

/** An API token's issue, in `api_token-registry`: its salted hash, never the secret. */
export type ApiTokenIssued = {
  type: 'ApiTokenIssued';
  data: {
    tokenId: string;
    name: string;
    role: string;
    format: 'generated' | 'supplied';
    /** base64url */
    salt: string;
    /** base64url */
    hash: string;
    /** The hash: absent on a token issued before hashes were named, which is SHA-256. */
    kdf?: { name: string; [parameter: string]: JsonValue };
    expiresAt: string | null;
  };
};

export type ApiTokenRevoked = {
  type: 'ApiTokenRevoked';
  data: { tokenId: string; name: string };
};

export type AuditRecord = CommandRefused | AccessDenied | ApiTokenIssued | ApiTokenRevoked;
