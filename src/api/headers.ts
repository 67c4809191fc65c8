import type { Request } from 'express';

/**
 * A request header's text, as its sender wrote it: the first value when it is repeated. Node reads
 * header bytes as Latin-1, one character per byte, so a header sent in UTF-8 (`X-Reason: Müller`, as
 * curl and browsers send it) arrives as `MÃ¼ller`; read back as UTF-8 when its bytes are valid UTF-8.
 * A header that is not (Latin-1 text from an old client) is kept as it came.
 */
export function headerText(request: Request, name: string): string | undefined {
  const raw = request.headers[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || !/[\u0080-\u00ff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD; the same bytes encoded back then differ.
  return Buffer.from(text, 'utf8').equals(bytes) ? text : value;
}
