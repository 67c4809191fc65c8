import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidInput } from '../application/commands/input-errors';
import { toErrorResponse } from './error-response';
import { apiSecurityHeaders } from './security-headers';

/** Node's own answers to the other requests its parser refuses, as it writes them when no listener does. */
const BARE_ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

interface ParserError extends Error {
  readonly code?: string;
  readonly bytesParsed?: number;
  readonly rawPacket?: Buffer;
}

const codePointOf = (byte: number): string => `U+${byte.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * The refusal of a header holding a byte HTTP does not allow (a control such as ESC, or DEL), named
 * from the bytes the parser stopped at: the header and the plain-text rule, as the door names a header
 * whose text breaks it. Undefined when the bytes do not say which header (it began in an earlier packet).
 */
export function headerRefusal(error: ParserError): InvalidInput | undefined {
  const packet = error.rawPacket;
  const at = error.bytesParsed;
  if (!Buffer.isBuffer(packet) || typeof at !== 'number' || at < 0 || at >= packet.length) return undefined;
  const lineStart = packet.lastIndexOf('\n', at) + 1;
  if (lineStart === 0) return undefined;
  const line = packet.subarray(lineStart, at).toString('latin1');
  const found = codePointOf(packet[at]!);
  const colon = line.indexOf(':');
  if (colon < 0) {
    const name = line.toLowerCase();
    return new InvalidInput(`A header name must be a token of visible ASCII letters, digits and !#$%&'*+-.^_\`|~; found ${found} at character ${line.length + 1} of the header name ${JSON.stringify(name)}. Nothing was done.`, {
      field: name,
    });
  }
  const name = line.slice(0, colon).trim().toLowerCase();
  const before = line.slice(colon + 1).replace(/^[ \t]+/, '');
  return new InvalidInput(`The ${name} header must be plain text: no control or invisible characters; found ${found} at character ${before.length + 1}. Nothing was done.`, {
    field: name,
  });
}

/**
 * Answers a request whose header bytes Node's HTTP parser refuses (it never reaches the application)
 * in the product's error shape, naming the header and the rule, instead of Node's bare `400` with no
 * body. Every other parser error gets Node's own answer. The connection is closed either way: the
 * parser cannot tell where the next request would begin.
 */
export function answerRefusedHeaders(server: Server): void {
  // The security headers every other API answer carries (Cache-Control: no-store and nosniff among them).
  const security = apiSecurityHeaders().map(([name, value]) => `${name}: ${value}\r\n`).join('');
  server.on('clientError', (error: ParserError, socket: Duplex) => {
    const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !response?.headersSent && error.code !== 'ECONNRESET') {
      const refusal = error.code === 'HPE_INVALID_HEADER_TOKEN' ? headerRefusal(error) : undefined;
      if (refusal) {
        const { status, body } = toErrorResponse(refusal);
        const text = JSON.stringify({ error: body });
        socket.write(
          `HTTP/1.1 ${status} Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
            `${security}Connection: close\r\n\r\n${text}`,
        );
      } else {
        socket.write(`HTTP/1.1 ${BARE_ANSWERS[error.code ?? ''] ?? '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
      }
    }
    socket.destroy(error);
  });
}
