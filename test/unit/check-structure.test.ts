import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../../scripts/check-structure.mjs", import.meta.url));

/** `count` lines of filler statements, each on its own line. */
function statements(count: number): string {
  return Array.from({ length: count }, (_, i) => `  void ${i};`).join("\n");
}

/** A function declaration of exactly `lines` lines (the header and the closing brace included). */
function functionOf(name: string, lines: number): string {
  return `export function ${name}() {\n${statements(lines - 2)}\n}\n`;
}

function run(root: string, ...flags: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, "--root", root, ...flags], { cwd: root }, (err, stdout) => {
      resolve({ code: err ? Number(err.code) : 0, out: stdout });
    });
  });
}

describe("scripts/check-structure.mjs", () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "check-structure-"));
    mkdirSync(join(root, "nested"));
    mkdirSync(join(root, "node_modules"));
    // Functions at the limit (60 lines: atLimit on lines 2-61, method) pass; one line more fails,
    // whatever kind of function.
    writeFileSync(
      join(root, "functions.ts"),
      [
        "/** A doc comment above a function is not part of its length. */",
        functionOf("atLimit", 60),
        functionOf("overLimit", 61),
        `export const arrow = () => {\n${statements(59)}\n};`,
        `export const short = () => 1;`,
        "export class Thing {",
        `  constructor() {\n${statements(59)}\n  }`,
        `  get value() {\n${statements(59)}\n    return 1;\n  }`,
        `  method() {\n${statements(58)}\n  }`,
        "  overload(): void;",
        "  overload(): void {}",
        "}",
        "",
      ].join("\n"),
    );
    // A file of exactly 400 lines passes; 401 fails.
    writeFileSync(join(root, "nested", "at-limit.ts"), `${statements(400)}\n`);
    writeFileSync(join(root, "nested", "over-limit.ts"), `${statements(401)}\n`);
    // A component: the outer function includes the inner callback's lines, both are measured.
    writeFileSync(
      join(root, "nested", "component.tsx"),
      `export function Page() {\n  const onClick = function () {\n${statements(61)}\n  };\n  return <div onClick={onClick} />;\n}\n`,
    );
    writeFileSync(join(root, "node_modules", "ignored.ts"), `${statements(500)}\n`);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("lists files over 400 lines and functions over 60, with file:line and length, and exits 1", async () => {
    const { code, out } = await run(root);
    expect(code).toBe(1);
    const findings = out.trim().split("\n");
    expect(findings).toEqual([
      "functions.ts:63 overLimit (function): 61 lines (limit 60)",
      "functions.ts:125 arrow (arrow function): 61 lines (limit 60)",
      "functions.ts:188 constructor (constructor): 61 lines (limit 60)",
      "functions.ts:249 value (getter): 62 lines (limit 60)",
      "nested/component.tsx:1 Page (function): 66 lines (limit 60)",
      "nested/component.tsx:2 onClick (function expression): 63 lines (limit 60)",
      "nested/over-limit.ts:1 file: 401 lines (limit 400)",
      "check-structure: 1 file(s) over 400 lines, 6 function(s) over 60 lines",
    ]);
  });

  it("prints the same with --report but exits 0", async () => {
    const strict = await run(root);
    const report = await run(root, "--report");
    expect(report.code).toBe(0);
    expect(report.out).toBe(strict.out);
  });

  it("exits 0 with only a summary when nothing is over the limits", async () => {
    const clean = mkdtempSync(join(tmpdir(), "check-structure-clean-"));
    try {
      writeFileSync(join(clean, "ok.ts"), functionOf("fine", 60));
      const { code, out } = await run(clean);
      expect(code).toBe(0);
      expect(out.trim()).toBe("check-structure: 0 file(s) over 400 lines, 0 function(s) over 60 lines");
    } finally {
      rmSync(clean, { recursive: true, force: true });
    }
  });
});
