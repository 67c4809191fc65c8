/**
 * The plain-text rule: characters text a person reads may not hold. Controls (a terminal acts on ESC
 * or BEL when the text is printed back), invisible format characters (zero-width, bidirectional
 * overrides: one name could pass for another) and lone surrogates. Line breaks and tabs are allowed
 * where `lineBreaks` says so. One rule for the commands' free-text fields and for whatever the API
 * records from a request (headers, the command's name, a JWT's subject).
 */
export const HIDDEN_CHARACTER = /[\p{Cc}\p{Cf}\p{Cs}]/u;
const LINE_BREAK_OR_TAB = /^[\t\n\r]$/;

/** The first character of `value` the rule refuses: its code point (`U+001B`) and index (in characters); undefined when none. */
export function firstHiddenCharacter(value: string, lineBreaks = false): { codePoint: string; index: number } | undefined {
  let index = 0;
  for (const char of value) {
    if (HIDDEN_CHARACTER.test(char) && !(lineBreaks && LINE_BREAK_OR_TAB.test(char))) {
      return { codePoint: codePointOf(char), index };
    }
    index += 1;
  }
  return undefined;
}

function codePointOf(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

const HIDDEN_CHARACTERS = new RegExp(HIDDEN_CHARACTER.source, 'gu');

/**
 * `value` with every character the rule refuses written as its code point in angle brackets
 * (`ESC` becomes `<U+001B>`): what is recorded of a refused request, so that the record says what was
 * sent and no reader's terminal acts on it.
 */
export function visibleText(value: string): string {
  return value.replace(HIDDEN_CHARACTERS, (char) => `<${codePointOf(char)}>`);
}
