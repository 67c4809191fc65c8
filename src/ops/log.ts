import type { LoggerService } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { format } from 'node:util';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config, LogFormat } from '../config/config';
import { visibleText } from '../domain/shared/plain-text';

export type { Logger } from 'pino';

/** Field names whose value is never written, wherever they appear in a line's object (one level deep). */
const REDACTED = ['authorization', 'token', 'secret', 'password', 'adminToken', 'metricsToken', 'localSecret', 'cookie'];

/** `pretty` on a terminal, `json` otherwise, unless LOG_FORMAT says. */
export function resolvedFormat(format: LogFormat, stream: { isTTY?: boolean } = process.stdout): 'json' | 'pretty' {
  return format === 'auto' ? (stream.isTTY ? 'pretty' : 'json') : format;
}

/**
 * The server's one logger (pino): every line it prints. `json`: one object per line on stdout, with
 * `time`, `level` (a name), `msg` and the line's fields. `pretty`: pino-pretty, written synchronously
 * (no worker thread), for a terminal.
 */
export function createLog(config: Pick<Config, 'logLevel' | 'logFormat'>, destination: NodeJS.WritableStream = process.stdout): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: 'topology-ledger' },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACTED, ...REDACTED.map((f) => `*.${f}`)], censor: '[redacted]' },
  };
  if (resolvedFormat(config.logFormat) === 'pretty') {
    return pino(options, pretty({ sync: true, destination, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l', singleLine: false }));
  }
  return pino(options, pino.destination({ dest: (destination as { fd?: number }).fd ?? 1, sync: true }));
}

/**
 * Lines every operator must see whatever LOG_LEVEL (except `silent`): where the server listens, the
 * first start's admin token. Logged at info through a child that LOG_LEVEL=warn or error does not mute.
 */
export function announcements(log: Logger): Logger {
  return log.level === 'silent' ? log : log.child({}, { level: 'info' });
}

/** Nest's logger (its errors, the exception filter's, the recorders') through the same pino logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}

  private write(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', message: unknown, rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    const stack = level === 'error' && typeof rest[0] === 'string' && rest.length > 1 ? rest[0] : undefined;
    if (message instanceof Error) this.pino[level]({ context, err: message }, message.message);
    else this.pino[level]({ context, ...(stack ? { stack } : {}) }, typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Nest's `log` is its start-up chatter (a line per module and route): debug material. */
  log(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }
}

const COMMAND_PATH = /^\/api\/commands\/([A-Za-z]{1,64})$/;
const clip = (value: string): string => {
  const text = visibleText(value);
  return text.length <= 128 ? text : `${text.slice(0, 128)}…`;
};

/**
 * One line per command answered (info): correlation id, actor, command, deployment, outcome (accepted,
 * refused with its code, failed), status and milliseconds. Never a header's credential, never the body.
 * `actorOf` reads the principal the door found.
 */
export function commandLog(log: Logger, actorOf: (request: Request) => string | undefined): (request: Request, response: Response, next: NextFunction) => void {
  return (request, response, next) => {
    const command = request.method === 'POST' ? COMMAND_PATH.exec(request.path)?.[1] : undefined;
    if (command === undefined) return next();
    const started = process.hrtime.bigint();
    let answer: { commandId?: unknown; deployment?: unknown; error?: { code?: unknown } } | undefined;
    const json = response.json.bind(response);
    response.json = ((body: unknown) => {
      if (typeof body === 'object' && body !== null) answer = body as typeof answer;
      return json(body);
    }) as Response['json'];
    response.once('finish', () => {
      const status = response.statusCode;
      const outcome = status < 300 ? 'accepted' : status < 500 ? 'refused' : 'failed';
      const header = request.headers['x-correlation-id'];
      const given = Array.isArray(header) ? header[0] : header;
      const commandId = typeof answer?.commandId === 'string' ? answer.commandId : undefined;
      const code = typeof answer?.error?.code === 'string' ? answer.error.code : undefined;
      const fields = {
        correlationId: given !== undefined ? clip(given) : commandId,
        commandId,
        actor: actorOf(request) ?? 'anonymous',
        command,
        deployment: typeof answer?.deployment === 'string' ? answer.deployment : undefined,
        outcome,
        code,
        status,
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
      };
      // A broken audit log refuses every command by design (said once at start): a warning, not an error per request.
      const level = outcome !== 'failed' ? 'info' : code === 'AUDIT_LOG_BROKEN' ? 'warn' : 'error';
      log[level](fields, `${command} ${outcome}${code ? ` (${code})` : ''}`);
    });
    next();
  };
}

/**
 * Lines written with `console` by code that has no logger of its own (the store's checkpoint thread,
 * the projection runner's storage retries) go through `log` too: `console.error` as errors,
 * `console.warn` as warnings, the rest as info. Their `topology-ledger: ` prefix is dropped (the line's
 * `service` says it).
 */
export function routeConsoleThrough(log: Logger): void {
  const text = (args: unknown[]): string => format(...args).replace(/^topology-ledger: /, '');
  console.error = (...args: unknown[]) => log.error(text(args));
  console.warn = (...args: unknown[]) => log.warn(text(args));
  console.log = (...args: unknown[]) => log.info(text(args));
  console.info = (...args: unknown[]) => log.info(text(args));
}
