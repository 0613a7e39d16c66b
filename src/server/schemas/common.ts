/**
 * Schema helpers and the parameters every resource shares. Schema modules are the single source
 * that validates requests, types the handlers, documents the API in /openapi.json and types the
 * client: they import only TypeBox, `domain/` and store record types, never Fastify.
 */
import { type ObjectOptions, type TProperties, type TSchema, Type } from "@sinclair/typebox";

/** A value of `schema` or null (JSON Schema type arrays keep validation messages readable). */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Unsafe<T["static"] | null>({ ...schema, type: [schema.type, "null"] });
}

/**
 * A request body object: a field the API does not know is a 400 naming it, never accepted and
 * silently dropped (a misspelt `mesage` must not become a request without its message).
 */
export function Body<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/**
 * A free-form JSON object a client attaches (`metadata`, `context`), bounded: at most
 * `maxProperties` keys here, and its serialised size and depth checked by the routes
 * (json-bounds.ts), since JSON Schema cannot bound those.
 */
export function ClientObject(description: string) {
  return Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), { maxProperties: 64, description });
}

export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: Record<string, unknown> = {},
) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

/**
 * A query string: a parameter the route does not know is a 400 naming it, never silently ignored
 * (a misspelt `?stauts=completed` must not list every batch).
 */
export function Query<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/** The query of a route that takes no parameters (request-parsing.ts gives it to every such route). */
export const NoQuery = Query({});

export const PageQuery = Query({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: "Results per page (max 1000)" }),
  offset: Type.Integer({
    minimum: 0,
    maximum: 2_147_483_647,
    default: 0,
    description: "Number of results to skip",
  }),
});

export const IdParams = Type.Object({ id: Type.String({ description: "The resource id" }) });

/**
 * The body of a route that reads none (cancel, pause, resume, retry, publish...): no body, or
 * `{}` for clients that always send one; any field is a 400 naming it, since nothing would read
 * it. `app.ts` gives it to every API route that declares no body.
 */
export const NoBody = Nullable(Body({}));
