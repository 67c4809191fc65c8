import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
  ValidateIf,
  registerDecorator,
  type ValidationArguments,
} from 'class-validator';
import { firstHiddenCharacter } from '../../domain/shared/plain-text';
import { Documented, type FieldDoc } from './documentation';

/**
 * Field decorators of the command bodies: each puts a field's validation and its OpenAPI
 * documentation side by side, so that the schema served and the schema checked cannot drift apart.
 */

export const REQUIRED_MESSAGE = '$property is required';

/** The documentation every field gives: what it is, and an example. */
export type Doc = Pick<FieldDoc, 'description' | 'example'> & { readonly description: string };

/** Several property decorators as one, applied in order. */
export function compose(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => {
    for (const decorator of decorators) decorator(target, key);
  };
}

export function presence(required: boolean): PropertyDecorator {
  return required ? IsDefined({ message: REQUIRED_MESSAGE }) : IsOptional();
}

export function StringField(max: number, doc: Doc, required = true, extra: Partial<FieldDoc> = {}): PropertyDecorator {
  return compose(
    presence(required),
    IsString(),
    MaxLength(max, { message: `$property must be at most ${max} characters long` }),
    Documented(required, { type: String, maxLength: max, ...extra, ...doc }),
  );
}

/** Free text a person reads (a display name, a reason): a string of at most `max` characters, none of them hidden. */
export function TextField(max: number, doc: Doc, required: boolean, options: { lineBreaks: boolean }): PropertyDecorator {
  return compose(StringField(max, doc, required), PlainText(options));
}

/** The plain-text rule of TextField, on a string or (`each`) on every string of an array. */
export function PlainText(options: { lineBreaks: boolean; each?: boolean }): PropertyDecorator {
  const offending = (value: unknown): { item: number | null; found: { codePoint: string; index: number } } | undefined => {
    const items = options.each && Array.isArray(value) ? value : [value];
    for (const [i, item] of items.entries()) {
      const found = typeof item === 'string' ? firstHiddenCharacter(item, options.lineBreaks) : undefined;
      if (found) return { item: options.each ? i : null, found };
    }
    return undefined;
  };
  return (target, key) =>
    registerDecorator({
      name: 'plainText',
      target: target.constructor,
      propertyName: String(key),
      validator: {
        validate: (value: unknown) => offending(value) === undefined,
        defaultMessage: (args: ValidationArguments) => {
          const hit = offending(args.value);
          return (
            `${options.each ? 'each value in ' : ''}$property must be plain text: no control or invisible characters${options.lineBreaks ? ' (line breaks and tabs are allowed)' : ''}` +
            (hit ? `; found ${hit.found.codePoint} at character ${hit.found.index + 1}${hit.item !== null ? ` of value ${hit.item + 1}` : ''}` : '')
          );
        },
      },
    });
}

export function BooleanField(doc: Doc): PropertyDecorator {
  return compose(IsOptional(), IsBoolean(), Documented(false, { type: Boolean, ...doc }));
}

export function EnumField(values: readonly string[], enumName: string, doc: Doc): PropertyDecorator {
  return compose(
    IsDefined({ message: REQUIRED_MESSAGE }),
    IsIn([...values], { message: `$property must be one of ${values.join(', ')}` }),
    Documented(true, { enum: [...values], enumName, ...doc }),
  );
}

function isGiven(object: object, key: string): boolean {
  const value = (object as Record<string, unknown>)[key];
  return value !== undefined && value !== null;
}

/**
 * One of several mutually exclusive fields: exactly one of `group` must be given. Fields that are
 * absent are not validated; when none is given, the error sits on the group's first field.
 */
export function ExactlyOneOf(group: readonly string[]): PropertyDecorator {
  return (target, key) => {
    const property = String(key);
    ValidateIf((object: object) => isGiven(object, property) || (property === group[0] && !group.some((k) => isGiven(object, k))))(
      target,
      property,
    );
    registerDecorator({
      name: 'exactlyOneOf',
      target: target.constructor,
      propertyName: property,
      constraints: [group],
      validator: {
        validate: (_value: unknown, args: ValidationArguments) => group.filter((k) => isGiven(args.object, k)).length === 1,
        defaultMessage: (args: ValidationArguments) => {
          const given = group.filter((k) => isGiven(args.object, k));
          return `exactly one of ${group.join(', ')} must be given, not ${given.length === 0 ? 'none' : given.join(' and ')}`;
        },
      },
    });
  };
}
