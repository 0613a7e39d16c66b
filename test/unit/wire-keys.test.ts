import { describe, expect, it } from "vitest";
import { keyProblem } from "../../src/domain/wire-keys.js";

describe("keyProblem", () => {
  it("passes an object whose keys are all known", () => {
    expect(keyProblem({ type: "text", text: "a" }, ["type", "text"])).toBeNull();
    expect(keyProblem({}, [])).toBeNull();
  });

  it("names the first unknown key", () => {
    expect(keyProblem({ type: "text", text: "a", detail_x: 1 }, ["type", "text"])).toEqual({
      key: "detail_x",
      kind: "unknown",
    });
  });

  it("refuses a refused key only when it is set (null and undefined are unset)", () => {
    const known = ["type", "text"];
    expect(keyProblem({ type: "text", citations: null }, known, ["citations"])).toBeNull();
    expect(keyProblem({ type: "text", citations: undefined }, known, ["citations"])).toBeNull();
    expect(keyProblem({ type: "text", citations: [] }, known, ["citations"])).toEqual({
      key: "citations",
      kind: "refused",
    });
    expect(keyProblem({ citations: false }, known, ["citations"])).toEqual({
      key: "citations",
      kind: "refused",
    });
  });
});
