import fc from 'fast-check';
import { canonicalize, CmdletError, parsePipeline } from '../../src/cli/cmdlet-parser';
import { ApiError } from '../../src/cli/api-client';
import { evaluate, parseFilter } from '../../src/cli/filter-expression';
import { prepareLine } from '../../src/cli/pipeline';

// Pieces of cmdlet lines, typographic ones included, so that random lines look like pasted ones.
const piece = fc.constantFrom(
  'Get-CsPersistentChatEndpoint', 'Remove-CsPersistentChatEndpoint', 'Get-CsPersistentChatState', 'Set-CsPersistentChatState', 'Where-Object',
  'Export-CsPersistentChatData', ' ', ' | ', '|', '-Identity', '\u2013Identity', '-Filter', '-PoolState', '-ea', 'SilentlyContinue', '{', '}', '(', ')',
  '$_.PoolState', '$_.SipAddress', '-eq', '-like', '-and', '-not', '!', '"', "'", '\u201C', '\u201D', '\u2018', '\u2019', '`', '@{', '@(', ',', ';', '#',
  'sip:pce@litwareinc.com', 'PersistentChatServer:a.litwareinc.com', '*.litwareinc.com', 'FailedOver', '$Null', '$true', '<', 'x',
);
const line = fc.array(fc.oneof(piece, fc.string({ maxLength: 4 })), { maxLength: 14 }).map((parts) => parts.join(''));

describe('cmdlet lines (property)', () => {
  it('any line is read or refused with a CmdletError (or an API-shaped refusal), never a crash', () => {
    fc.assert(
      fc.property(line, (text) => {
        try {
          prepareLine(parsePipeline(text), { json: false });
        } catch (error) {
          if (!(error instanceof CmdletError) && !(error instanceof ApiError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reading typographic quotes and dashes twice changes nothing more', () => {
    fc.assert(
      fc.property(line, (text) => {
        expect(canonicalize(canonicalize(text))).toBe(canonicalize(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('a filter is read or refused with the reason; what is read evaluates to a boolean on any object', () => {
    fc.assert(
      fc.property(line, fc.record({ PoolState: fc.oneof(fc.string(), fc.constant(null)), SipAddress: fc.string() }), (text, object) => {
        try {
          expect(typeof evaluate(parseFilter(text, 'pipelineObject', 'test'), object)).toBe('boolean');
        } catch (error) {
          if (!(error instanceof CmdletError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
