import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { sampleFromSchema } from "../../src/providers/schema-sample.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false }));

const schemas: Record<string, object> = {
  ticket: {
    type: "object",
    properties: {
      category: { type: "string", enum: ["billing", "bug", "other"] },
      urgency: { type: "integer", minimum: 1, maximum: 5 },
      summary: { type: "string", minLength: 20, maxLength: 200 },
      tags: { type: "array", items: { type: "string" }, minItems: 2, maxItems: 3, uniqueItems: true },
      notes: { type: "string" },
    },
    required: ["category", "urgency", "summary", "tags"],
    additionalProperties: false,
  },
  nested: {
    type: "object",
    properties: {
      owner: { $ref: "#/$defs/person" },
      when: { type: "string", format: "date-time" },
      score: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
      flag: { type: ["boolean", "null"] },
      kind: { const: "fixed" },
    },
    required: ["owner", "when", "score", "flag", "kind"],
    $defs: {
      person: {
        type: "object",
        properties: { email: { type: "string", format: "email" } },
        required: ["email"],
      },
    },
  },
  unions: {
    type: "object",
    properties: { value: { anyOf: [{ type: "null" }, { type: "integer", multipleOf: 5, minimum: 7 }] } },
    required: ["value"],
  },
  array: {
    type: "array",
    items: { type: "object", properties: { id: { type: "integer" } }, required: ["id"] },
  },
};

describe("sampleFromSchema", () => {
  for (const [name, schema] of Object.entries(schemas)) {
    it(`builds a value that validates against the ${name} schema`, () => {
      const value = sampleFromSchema(schema, { text: "Refund please" });
      const validate = ajv.compile(schema);
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    });
  }

  it("is deterministic, fills required fields only, and takes strings from the text", () => {
    const a = sampleFromSchema(schemas.ticket, { text: "Refund please" }) as Record<string, unknown>;
    expect(a).toEqual(sampleFromSchema(schemas.ticket, { text: "Refund please" }));
    expect(a.category).toBe("billing");
    expect(a.urgency).toBe(1);
    expect(String(a.summary).startsWith("Refund please")).toBe(true);
    expect("notes" in a).toBe(false);
    expect(sampleFromSchema(schemas.ticket, { allProperties: true })).toHaveProperty("notes");
  });
});
