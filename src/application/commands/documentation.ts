/**
 * What the OpenAPI document says of the command bodies, kept as plain data beside the validation.
 *
 * The body classes are shared by the API and the CLI; the CLI must not load the OpenAPI library.
 * So the classes record their documentation here, in the order their decorators run, and the API
 * layer turns each record into the OpenAPI decorator it stands for when it builds its document
 * (`src/api/openapi.ts`).
 */

/** The body classes, and the class of a nested body (`type: () => LegacyGroupChatServicesDto`). */
type BodyClass = abstract new (...args: never[]) => object;

/** The part of an OpenAPI schema object a body field is described with. */
export interface FieldDoc {
  readonly description?: string;
  readonly example?: unknown;
  readonly type?: StringConstructor | NumberConstructor | BooleanConstructor | readonly [StringConstructor] | (() => BodyClass);
  readonly isArray?: boolean;
  readonly format?: string;
  readonly pattern?: string;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly items?: Readonly<Record<string, unknown>>;
  readonly enum?: readonly unknown[];
  readonly enumName?: string;
  readonly default?: unknown;
}

/** The description of a whole body class. */
export interface SchemaDoc {
  readonly description: string;
}

export type DocumentationRecord =
  | { readonly kind: 'field'; readonly target: object; readonly property: string; readonly required: boolean; readonly doc: FieldDoc }
  | { readonly kind: 'schema'; readonly target: BodyClass; readonly doc: SchemaDoc };

const RECORDS: DocumentationRecord[] = [];

/** Documents a body field: required (`ApiProperty`) or optional (`ApiPropertyOptional`). */
export function Documented(required: boolean, doc: FieldDoc): PropertyDecorator {
  return (target, property) => {
    RECORDS.push({ kind: 'field', target, property: String(property), required, doc });
  };
}

/** Documents a body class (`ApiSchema`). */
export function DocumentedSchema(doc: SchemaDoc): ClassDecorator {
  return (target) => {
    RECORDS.push({ kind: 'schema', target: target as unknown as BodyClass, doc });
  };
}

/** Every record, in the order the decorators ran (a base class's fields before its subclasses'). */
export function documentation(): readonly DocumentationRecord[] {
  return RECORDS;
}
