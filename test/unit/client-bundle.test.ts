import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const dist = join(import.meta.dirname, "../../dist");
const dir = join(dist, "client");

/** Every module specifier a built file imports (static, dynamic, re-export). */
function specifiers(code: string): string[] {
  const out: string[] = [];
  for (const re of [
    /\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']/g,
    /\bimport\s+["']([^"']+)["']/g,
  ]) {
    for (const m of code.matchAll(re)) out.push(m[1]);
  }
  return out;
}

describe("the built client (dist/client)", () => {
  it("imports nothing outside dist/client: no node: modules, no packages, no server code", () => {
    expect(existsSync(join(dir, "index.js")), "dist/client is missing: run `npm run build` first").toBe(true);
    const files = readdirSync(dir).filter((f) => f.endsWith(".js"));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      for (const spec of specifiers(readFileSync(join(dir, f), "utf8"))) {
        expect(spec, `${f} imports ${spec}`).toMatch(/^\.\/[a-z0-9-]+\.js$/);
        expect(existsSync(join(dir, spec)), `${f} imports ${spec}, which is not in dist/client`).toBe(true);
      }
    }
  });

  it("has type declarations that never reach Fastify, however deep they import", () => {
    const roots = readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".d.ts"))
      .map((f) => join(dir, f));
    expect(roots.length).toBeGreaterThan(3);
    const seen = new Set<string>();
    const queue = [...roots];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const from = relative(dist, file);
      for (const spec of specifiers(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) {
          expect(spec, `${from} imports ${spec}`).not.toMatch(/^(fastify|@fastify\/)/);
          continue;
        }
        const target = resolve(dirname(file), spec).replace(/\.js$/, ".d.ts");
        expect(target.startsWith(dist), `${from} imports ${spec}, outside dist`).toBe(true);
        expect(existsSync(target), `${from} imports ${spec}: ${relative(dist, target)} is missing`).toBe(
          true,
        );
        queue.push(target);
      }
    }
    // The client's types come from the server's schemas and wire mappers: the walk reached them.
    expect([...seen].some((f) => f.includes(`${join("server", "wire")}`))).toBe(true);
  });

  it("loads by its package name and works without the server's modules", async () => {
    const mod = await import("agentbatch/client");
    expect(typeof mod.AgentbatchClient).toBe("function");
    expect(typeof mod.verifyWebhook).toBe("function");
    expect(new mod.AgentbatchError("x", 404, 10003)).toBeInstanceOf(Error);
  });
});
