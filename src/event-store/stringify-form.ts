/**
 * One pass over JSON text: is it what JSON.stringify(JSON.parse(text)) gives back? Used to prove a
 * stored event's chain fields from its stored text without decoding it (`provenChainFields`).
 *
 * The scan keeps its cursor in module-level variables, set at the start of each call and cleared at its
 * end; nothing here awaits, so one scan never interleaves with another.
 */

let src = '';
let at = 0;
let escaped = false;

/**
 * Whether `text[from, to)` is one JSON value exactly as `JSON.stringify` writes back what `JSON.parse`
 * reads from it: no whitespace; strings with no escapes but `\" \\ \b \f \n \r \t` and no lone
 * surrogate; numbers as `String(Number(n))` writes them; objects whose keys strictly increase (so
 * none repeats), none starting with a digit (JavaScript would move an index-like key first) and none
 * with an escape. Conservative: it may refuse what JSON.stringify could write (those events are
 * decoded), never the reverse.
 */
export function isStringifyForm(text: string, from: number, to: number): boolean {
  src = text;
  at = from;
  SPECIAL.lastIndex = from;
  const special = SPECIAL.exec(text);
  plain = special === null || special.index >= to;
  nextBackslash = text.indexOf('\\', from);
  const ok = value(to) && at === to;
  src = '';
  return ok;
}

function value(to: number): boolean {
  if (at >= to) return false;
  const c = src.charCodeAt(at);
  if (c === 0x22) return string(to) >= 0;
  if (c === 0x7b) return object(to);
  if (c === 0x5b) return array(to);
  if (c === 0x74) return word('true', to);
  if (c === 0x66) return word('false', to);
  if (c === 0x6e) return word('null', to);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return number(to);
  return false;
}

function word(w: string, to: number): boolean {
  if (at + w.length > to || !src.startsWith(w, at)) return false;
  at += w.length;
  return true;
}

function number(to: number): boolean {
  const start = at;
  while (at < to) {
    const c = src.charCodeAt(at);
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65) at++;
    else break;
  }
  const token = src.slice(start, at);
  return String(Number(token)) === token;
}

/** Characters a string may not hold as they are (controls) or only in pairs (surrogates). */
const SPECIAL = /[\u0000-\u001f\ud800-\udfff]/g;
/** The region has none of them: strings there are checked for quotes and backslashes only. */
let plain = false;
/** The next backslash at or after the last string's start (-1: none left), so each is searched once. */
let nextBackslash = -1;

/** `\" \\ \b \f \n \r \t`: the escapes JSON.stringify writes by their short form. */
function isShortEscape(c: number): boolean {
  return c === 0x22 || c === 0x5c || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74;
}

/** Past the closing quote; the index of the first character inside, or -1. Sets `escaped`. */
function string(to: number): number {
  const start = ++at;
  escaped = false;
  if (plain) {
    for (;;) {
      const quote = src.indexOf('"', at);
      if (quote < 0 || quote >= to) return -1;
      if (nextBackslash !== -1 && nextBackslash < at) nextBackslash = src.indexOf('\\', at);
      if (nextBackslash === -1 || nextBackslash > quote) {
        at = quote + 1;
        return start;
      }
      const e = src.charCodeAt(nextBackslash + 1);
      if (!isShortEscape(e)) return -1;
      escaped = true;
      at = nextBackslash + 2;
    }
  }
  while (at < to) {
    const c = src.charCodeAt(at);
    if (c === 0x22) {
      at++;
      return start;
    }
    if (c === 0x5c) {
      const e = src.charCodeAt(at + 1);
      if (!isShortEscape(e)) return -1;
      escaped = true;
      at += 2;
    } else if (c < 0x20) {
      return -1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const low = src.charCodeAt(at + 1);
      if (c > 0xdbff || !(low >= 0xdc00 && low <= 0xdfff)) return -1;
      at += 2;
    } else {
      at++;
    }
  }
  return -1;
}

function object(to: number): boolean {
  at++;
  if (at >= to) return false;
  if (src.charCodeAt(at) === 0x7d) {
    at++;
    return true;
  }
  let previousStart = -1;
  let previousEnd = -1;
  for (;;) {
    if (src.charCodeAt(at) !== 0x22) return false;
    const start = string(to);
    if (start < 0 || escaped) return false;
    const end = at - 1;
    const first = src.charCodeAt(start);
    if ((first >= 0x30 && first <= 0x39) || (previousStart >= 0 && !keyBefore(previousStart, previousEnd, start, end))) return false;
    previousStart = start;
    previousEnd = end;
    if (src.charCodeAt(at) !== 0x3a) return false;
    at++;
    if (!value(to) || at >= to) return false;
    const c = src.charCodeAt(at);
    at++;
    if (c === 0x7d) return true;
    if (c !== 0x2c) return false;
  }
}

/** Whether the key at `[a, aEnd)` sorts strictly before the key at `[b, bEnd)`, by UTF-16 code units as `<` compares. */
function keyBefore(a: number, aEnd: number, b: number, bEnd: number): boolean {
  for (; a < aEnd && b < bEnd; a++, b++) {
    const x = src.charCodeAt(a);
    const y = src.charCodeAt(b);
    if (x !== y) return x < y;
  }
  return a === aEnd && b < bEnd;
}

function array(to: number): boolean {
  at++;
  if (at >= to) return false;
  if (src.charCodeAt(at) === 0x5d) {
    at++;
    return true;
  }
  for (;;) {
    if (!value(to) || at >= to) return false;
    const c = src.charCodeAt(at);
    at++;
    if (c === 0x5d) return true;
    if (c !== 0x2c) return false;
  }
}
