import type * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { checkpointProblem, SignedCheckpoint } from './audit-signing';

/**
 * Witnesses keep every signed checkpoint where whoever can write DATA_DIR cannot rewrite them: an
 * append-only file on another disk or host (`AUDIT_WITNESS_FILE`), an HTTP service of the auditors'
 * (`AUDIT_WITNESS_URL`). A file witness holds one checkpoint per line, as JSON.
 */

export interface Witness {
  /** `file` or `url`, with where: what `/health` shows. */
  readonly name: string;
  /** Hands the checkpoint over; resolves once it is kept (the file synced, the service answered 2xx). */
  publish(checkpoint: SignedCheckpoint): Promise<void>;
}

/** Appends each checkpoint as a line and syncs it before answering. */
export class FileWitness implements Witness {
  readonly name: string;
  constructor(private readonly file: string) {
    this.name = `file ${file}`;
  }

  async publish(checkpoint: SignedCheckpoint): Promise<void> {
    const handle = await fs.promises.open(this.file, 'a', 0o644);
    try {
      await handle.appendFile(`${JSON.stringify(checkpoint)}\n`, 'utf8');
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

/** POSTs each checkpoint as JSON; a non-2xx answer or no answer within the timeout is a failure (the caller retries). */
export class UrlWitness implements Witness {
  readonly name: string;
  constructor(private readonly url: string, private readonly timeoutMs = 5_000) {
    this.name = `url ${new URL(url).origin}`;
  }

  async publish(checkpoint: SignedCheckpoint): Promise<void> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(checkpoint),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`${this.name} answered ${response.status}`);
  }
}

/** A witness's checkpoints as read back, each verified with the trusted key; the lines that fail are listed. */
export interface WitnessRecord {
  readonly checkpoints: readonly SignedCheckpoint[];
  readonly rejected: readonly { readonly line: number; readonly problem: string }[];
}

/**
 * Reads a witness file: every line a checkpoint signed by the trusted key, positions never going
 * back. A line that is not (forged, signed with another key, edited, out of order) is rejected with
 * its line number; the others are kept.
 */
export function readWitnessFile(file: string, publicKey: crypto.KeyObject, fingerprint: string): WitnessRecord {
  const text = fs.readFileSync(file, 'utf8');
  const checkpoints: SignedCheckpoint[] = [];
  const rejected: { line: number; problem: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // The last line without its newline is being written (or was cut by a crash): not a checkpoint yet.
      if (i === lines.length - 1) continue;
      rejected.push({ line: i + 1, problem: 'not JSON' });
      continue;
    }
    const problem = checkpointProblem(value, publicKey, fingerprint);
    if (problem !== undefined) {
      rejected.push({ line: i + 1, problem });
      continue;
    }
    const checkpoint = value as SignedCheckpoint;
    const last = checkpoints[checkpoints.length - 1];
    if (last !== undefined && checkpoint.position < last.position) {
      rejected.push({ line: i + 1, problem: `position ${checkpoint.position} goes back from ${last.position}` });
      continue;
    }
    checkpoints.push(checkpoint);
  }
  return { checkpoints, rejected };
}
