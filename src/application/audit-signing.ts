import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { LOG_DIGEST_ALGORITHM } from '../event-store/chain-hash';
import { canonicalJson } from './audit';

/**
 * Signed checkpoints of the log. A checkpoint `{ position, digest, time }` states the store-wide
 * digest (see `LOG_DIGEST_ALGORITHM`) after the event at `position`; the server signs it with an
 * Ed25519 key kept outside DATA_DIR (`AUDIT_KEY_FILE`) and hands it to witnesses that whoever can
 * write DATA_DIR cannot rewrite. Signing and verifying are Node's own `crypto`.
 */

export const CHECKPOINT_VERSION = 1;
export const SIGNATURE_ALGORITHM = 'ed25519';

/** What is signed: every field but the signature, as canonical JSON. */
export interface CheckpointBody {
  readonly version: number;
  /** Global position of the last event covered. */
  readonly position: number;
  /** The store-wide digest after that event (hex). */
  readonly digest: string;
  readonly algorithm: string;
  /** When it was signed (ISO 8601, UTC). */
  readonly time: string;
  /** Fingerprint of the public key that verifies it (see {@link keyFingerprint}). */
  readonly key: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  /** Ed25519 signature of the canonical JSON of the body, base64. */
  readonly signature: string;
}

/** The bytes a checkpoint's signature covers. */
function signedBytes(body: CheckpointBody): Buffer {
  const { version, position, digest, algorithm, time, key } = body;
  return Buffer.from(canonicalJson({ algorithm, digest, key, position, time, version }), 'utf8');
}

/** `sha256:<hex>` of the public key's SubjectPublicKeyInfo (DER): what reports and `/health` name the key by. */
export function keyFingerprint(key: crypto.KeyObject): string {
  const publicKey = key.type === 'private' ? crypto.createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${crypto.createHash('sha256').update(der).digest('hex')}`;
}

/** The signing key of a server: its private key, public key and fingerprint. */
export interface AuditKey {
  readonly privateKey: crypto.KeyObject;
  readonly publicKey: crypto.KeyObject;
  readonly fingerprint: string;
}

/** A key file that cannot be used; the message says why (the caller names the variable or option). */
export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyError';
  }
}

/** Reads an Ed25519 private key (PEM, PKCS#8) as `topo keys create` writes it. */
export function readPrivateKey(file: string): AuditKey {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new AuditKeyError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(text);
  } catch {
    throw new AuditKeyError(`${file} is not a PEM private key (make one with 'topo keys create FILE')`);
  }
  if (privateKey.asymmetricKeyType !== SIGNATURE_ALGORITHM) {
    throw new AuditKeyError(`${file} holds a ${String(privateKey.asymmetricKeyType)} key; an Ed25519 key is needed (make one with 'topo keys create FILE')`);
  }
  const publicKey = crypto.createPublicKey(privateKey);
  return { privateKey, publicKey, fingerprint: keyFingerprint(publicKey) };
}

/** Reads a public key (PEM, SPKI) or takes the public half of a private key file. */
export function readPublicKey(file: string): { readonly publicKey: crypto.KeyObject; readonly fingerprint: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new AuditKeyError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let publicKey: crypto.KeyObject;
  try {
    publicKey = crypto.createPublicKey(text);
  } catch {
    throw new AuditKeyError(`${file} is not a PEM public key`);
  }
  if (publicKey.asymmetricKeyType !== SIGNATURE_ALGORITHM) throw new AuditKeyError(`${file} holds a ${String(publicKey.asymmetricKeyType)} key; an Ed25519 key is needed`);
  return { publicKey, fingerprint: keyFingerprint(publicKey) };
}

/**
 * Makes a new key pair: the private key at `file` (mode 0600, never overwritten) and its public key
 * at `file.pub`, both PEM. Returns the fingerprint.
 */
export function createKeyFiles(file: string): { readonly privateFile: string; readonly publicFile: string; readonly fingerprint: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync(SIGNATURE_ALGORITHM);
  const publicFile = `${file}.pub`;
  for (const target of [file, publicFile]) {
    if (fs.existsSync(target)) throw new AuditKeyError(`${target} already exists; a key is never overwritten`);
  }
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  return { privateFile: file, publicFile, fingerprint: keyFingerprint(publicKey) };
}

/** Signs the checkpoint at `position` with `digest`. */
export function signCheckpoint(key: AuditKey, position: number, digest: string, time: Date): SignedCheckpoint {
  const body: CheckpointBody = { version: CHECKPOINT_VERSION, position, digest, algorithm: LOG_DIGEST_ALGORITHM, time: time.toISOString(), key: key.fingerprint };
  const signature = crypto.sign(null, signedBytes(body), key.privateKey).toString('base64');
  return { ...body, signature };
}

/** Why a checkpoint (one line of a witness) cannot be taken: undefined when it is well formed and verifies with `publicKey`. */
export function checkpointProblem(value: unknown, publicKey: crypto.KeyObject, fingerprint: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const c = value as Record<string, unknown>;
  if (c['version'] !== CHECKPOINT_VERSION) return `version must be ${CHECKPOINT_VERSION}`;
  if (typeof c['position'] !== 'number' || !Number.isSafeInteger(c['position']) || c['position'] < 0) return 'position must be a whole number';
  if (typeof c['digest'] !== 'string' || !/^[0-9a-f]{64}$/.test(c['digest'])) return 'digest must be 64 hex digits';
  if (c['algorithm'] !== LOG_DIGEST_ALGORITHM) return `algorithm must be ${LOG_DIGEST_ALGORITHM}`;
  if (typeof c['time'] !== 'string' || Number.isNaN(Date.parse(c['time']))) return 'time must be an ISO 8601 time';
  if (typeof c['key'] !== 'string') return 'key must be a key fingerprint';
  if (typeof c['signature'] !== 'string') return 'signature must be base64';
  if (c['key'] !== fingerprint) return `signed by key ${c['key']}, not by the trusted key ${fingerprint}`;
  const ok = crypto.verify(null, signedBytes(c as unknown as CheckpointBody), publicKey, Buffer.from(c['signature'], 'base64'));
  return ok ? undefined : 'its signature does not verify with the trusted key';
}
