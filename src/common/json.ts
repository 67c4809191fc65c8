// The one JSON value type of the product: the events' data and metadata (the event store port), a
// refusal's details (the domain's errors), what the API answers. Types only: nothing here runs.

/** A JSON value: what survives `JSON.stringify` and `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
