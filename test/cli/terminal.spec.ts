import { documentForStdout, terminalBlock, terminalJson, terminalSafe, terminalValues } from '../../src/cli/terminal';

// ESC[31m (colour), BEL, CR LF (a fake line), CSI as one 8-bit control, a right-to-left override,
// a zero-width space, DEL, NUL, NEL, a line separator and a lone surrogate.
const HOSTILE = 'a\u001b[31mb\u0007c\r\nFAKE\u009b2J\u202eevil\u200bz\u007f\u0000\u0085\u2028\ud800';
const RAW = /[\u0000-\u001f\u007f-\u009f\u200b\u202e\u2028\ud800]/;

describe('terminalSafe', () => {
  it('shows every control and invisible character escaped, on one line', () => {
    expect(terminalSafe(HOSTILE)).toBe('a\\x1b[31mb\\x07c\\r\\nFAKE\\x9b2J\\u{202e}evil\\u{200b}z\\x7f\\x00\\x85\\u{2028}\\u{d800}');
    expect(terminalSafe(HOSTILE)).not.toMatch(RAW);
  });

  it('leaves readable text alone: accents, scripts, emoji, Windows paths', () => {
    const text = 'Zoë Ünal · Ελληνικά · 中文 😀 C:\\GroupChatMigration\\gc.zip';
    expect(terminalSafe(text)).toBe(text);
  });

  it('prints absent values as nothing and objects as their JSON, escaped', () => {
    expect(terminalSafe(null)).toBe('');
    expect(terminalSafe(42)).toBe('42');
    expect(terminalSafe({ name: '\u009b' })).toBe('{"name":"\\x9b"}');
  });
});

describe('terminalJson', () => {
  it('is still JSON of the same value, with nothing raw a terminal would act on', () => {
    const value = { name: HOSTILE, nested: [HOSTILE] };
    const text = terminalJson(value, 2);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b\u202e\u2028\ud800]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('terminalValues and terminalBlock', () => {
  it('escapes every string inside an answer, keys included', () => {
    expect(terminalValues({ DisplayName: HOSTILE, list: [HOSTILE, 1], ['k\u001b']: null })).toEqual({
      DisplayName: terminalSafe(HOSTILE),
      list: [terminalSafe(HOSTILE), 1],
      'k\\x1b': null,
    });
  });

  it('keeps the line feeds of a rendered block and escapes the rest', () => {
    expect(terminalBlock('one\u001b[2J\ntwo\r\nthree')).toBe('one\\x1b[2J\ntwo\\r\nthree');
    expect(terminalBlock('one\r\ntwo\u0007', { crlf: true })).toBe('one\r\ntwo\\x07');
  });

  it('leaves a document bound for a file or pipe as it is, and escapes it for a terminal', () => {
    const runbook = "# a\r\nNew-CsPersistentChatEndpoint -DisplayName 'x\u001b[31m'\r\n";
    expect(documentForStdout(runbook, false)).toBe(runbook);
    expect(documentForStdout(runbook, true)).toBe("# a\r\nNew-CsPersistentChatEndpoint -DisplayName 'x\\x1b[31m'\r\n");
  });
});
