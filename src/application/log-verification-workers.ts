import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EventStore } from '../event-store/event-store';
import { EventProof, LogVerification, ProofPages, provedHere, verifyLog, VerifyOptions } from './log-verification';

/** A chunk of global positions, `from` inclusive, `to` exclusive, for one worker to prove. */
export interface ChunkRequest {
  readonly chunk: number;
  readonly from: number;
  readonly to: number;
}

export type ChunkResult = { readonly chunk: number; readonly proofs: EventProof[] } | { readonly chunk: number; readonly error: string };

const WORKER_FILE = path.join(__dirname, 'log-verification.worker.js');
const MAX_CHUNK = 1_000;
const MIN_CHUNK = 64;
/** Chunks proven ahead of the one the in-order walk waits for, per worker: bounds the memory held. */
const AHEAD_PER_WORKER = 3;

/** Whether worker threads can run here (the compiled worker exists: not when running from TypeScript sources). */
export function canVerifyInWorkers(): boolean {
  return fs.existsSync(WORKER_FILE);
}

/**
 * `verifyLog` of the SQLite store in `dataDir`, with each event's own hash proven by `workers` worker
 * threads, each reading its chunks of positions through its own connection, while this thread checks
 * links, revisions and the digest in log order as the chunks come in. The log is split up to its
 * head at the start; anything appended later is checked here, after it. The result is the same as
 * `verifyLog`'s, only sooner on a machine with more than one core.
 */
export async function verifyLogInWorkers(store: EventStore, dataDir: string, workers: number, options: VerifyOptions = {}): Promise<LogVerification> {
  const head = await store.headPosition();
  const count = Math.max(1, Math.floor(workers));
  // Several chunks per worker even for a small log, so that every worker has its share.
  const size = Math.min(options.pageSize ?? MAX_CHUNK, Math.max(MIN_CHUNK, Math.ceil(head / (count * 4))));
  return verifyLog(store, options, concat(provedInWorkers(dataDir, count, head, size), provedHere(store, options.pageSize, head + 1)));
}

async function* concat(...sources: ProofPages[]): ProofPages {
  for (const source of sources) yield* source;
}

interface Waiting {
  resolve(proofs: EventProof[]): void;
  reject(error: Error): void;
}

async function* provedInWorkers(dataDir: string, count: number, head: number, size: number): ProofPages {
  const chunks = Math.ceil(head / size);
  if (chunks === 0) return;
  const results = new Map<number, Promise<EventProof[]>>();
  const waiting = new Map<number, Waiting>();
  const idle: Worker[] = [];
  let sent = 0;
  let consumed = 0;
  let failure: Error | undefined;

  const fail = (error: Error): void => {
    failure ??= error;
    for (const w of waiting.values()) w.reject(failure);
    waiting.clear();
  };
  const pump = (): void => {
    while (idle.length > 0 && sent < chunks && sent - consumed < count * AHEAD_PER_WORKER) {
      const worker = idle.pop()!;
      const chunk = sent++;
      const proofs = new Promise<EventProof[]>((resolve, reject) => waiting.set(chunk, { resolve, reject }));
      proofs.catch(() => undefined); // a failure is thrown where the chunk is awaited, not as an unhandled rejection
      results.set(chunk, proofs);
      worker.postMessage({ chunk, from: 1 + chunk * size, to: 1 + (chunk + 1) * size } satisfies ChunkRequest);
    }
  };
  const pool = Array.from({ length: count }, () => {
    const worker = new Worker(WORKER_FILE, { workerData: { dataDir } });
    worker.on('message', (result: ChunkResult) => {
      const w = waiting.get(result.chunk);
      waiting.delete(result.chunk);
      if ('error' in result) fail(new Error(`verifying positions from ${1 + result.chunk * size}: ${result.error}`));
      else w?.resolve(result.proofs);
      idle.push(worker);
      pump();
    });
    worker.on('error', (error) => fail(error));
    worker.on('exit', (code) => {
      if (code !== 0) fail(new Error(`a verifying worker stopped with exit code ${code}`));
    });
    idle.push(worker);
    return worker;
  });
  try {
    pump();
    for (let chunk = 0; chunk < chunks; chunk++) {
      if (failure) throw failure;
      const proofs = await results.get(chunk)!;
      results.delete(chunk);
      consumed = chunk + 1;
      pump();
      if (proofs.length > 0) yield proofs;
    }
  } finally {
    failure ??= new Error('verification ended');
    waiting.clear();
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
}
