#!/usr/bin/env node
/**
 * Structure check: lists every source file over MAX_FILE_LINES lines and every function over
 * MAX_FUNCTION_LINES lines, and exits 1 if there is any (exit 0 with `--report`).
 *
 *   node scripts/check-structure.mjs [--root DIR] [--report]
 *
 * What it reads: every `.ts` and `.tsx` file under DIR (default: the repository's `src/`),
 * recursively, skipping `node_modules` and `dist` folders.
 *
 * How it measures:
 * - A file's length is its number of lines as an editor numbers them: the count of line breaks,
 *   plus one when the last line does not end with one (so it equals `wc -l` for a file that
 *   ends with a newline). Blank lines and comments count.
 * - A function is any function declaration, method, constructor, get or set accessor, arrow
 *   function or function expression that has a body (overload signatures and abstract methods
 *   have none). Its length runs from the line where it starts (its first token, so a leading
 *   doc comment does not count, but `export`, `async` and decorators do) to the line where its
 *   body ends, both included: a one-line arrow is 1, `function f() {` + one statement + `}` is 3.
 * - Nested functions are measured on their own too, and an outer function's length includes
 *   them: a component of 80 lines is over the limit even if most of it is one inner callback.
 * - The file is parsed with the TypeScript compiler API (`.tsx` as TSX), never type-checked, so
 *   the check is fast and needs no tsconfig.
 *
 * Output: one line per finding, `path:line name (kind): N lines`, paths relative to the current
 * directory, sorted by path then line, and a summary line.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 60;

const SKIPPED_FOLDERS = new Set(["node_modules", "dist"]);

function parseArgs(argv) {
  const options = { root: fileURLToPath(new URL("../src", import.meta.url)), report: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--report") options.report = true;
    else if (arg === "--root" && argv[i + 1] !== undefined) options.root = resolve(argv[++i]);
    else {
      console.error(
        `check-structure: unknown argument ${arg}\nusage: check-structure.mjs [--root DIR] [--report]`,
      );
      process.exit(2);
    }
  }
  return options;
}

function listSourceFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.has(entry.name)) files.push(...listSourceFiles(path));
    } else if (/\.tsx?$/.test(entry.name)) {
      files.push(path);
    }
  }
  return files.sort();
}

function countLines(text) {
  if (text === "") return 0;
  const breaks = text.split("\n").length - 1;
  return text.endsWith("\n") ? breaks : breaks + 1;
}

const FUNCTION_KINDS = new Map([
  [ts.SyntaxKind.FunctionDeclaration, "function"],
  [ts.SyntaxKind.MethodDeclaration, "method"],
  [ts.SyntaxKind.Constructor, "constructor"],
  [ts.SyntaxKind.GetAccessor, "getter"],
  [ts.SyntaxKind.SetAccessor, "setter"],
  [ts.SyntaxKind.ArrowFunction, "arrow function"],
  [ts.SyntaxKind.FunctionExpression, "function expression"],
]);

/** The name a reader would look for: its own, or the variable, property or call it is given to. */
function functionName(node) {
  if (node.kind === ts.SyntaxKind.Constructor) return "constructor";
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (
    ts.isVariableDeclaration(parent) ||
    ts.isPropertyAssignment(parent) ||
    ts.isPropertyDeclaration(parent)
  ) {
    return parent.name.getText();
  }
  if (ts.isCallExpression(parent)) return `(callback to ${parent.expression.getText().slice(0, 40)})`;
  return "(anonymous)";
}

function measureFunctions(sourceFile) {
  const found = [];
  const lineOf = (position) => sourceFile.getLineAndCharacterOfPosition(position).line + 1;
  const visit = (node) => {
    const kind = FUNCTION_KINDS.get(node.kind);
    if (kind && node.body) {
      const line = lineOf(node.getStart(sourceFile));
      const lines = lineOf(node.getEnd()) - line + 1;
      found.push({ line, lines, kind, name: functionName(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

/** Every file and function of `root` over the limits. */
export function findViolations(root) {
  const violations = [];
  for (const path of listSourceFiles(root)) {
    const text = readFileSync(path, "utf8");
    const fileLines = countLines(text);
    if (fileLines > MAX_FILE_LINES) violations.push({ path, line: 1, lines: fileLines, what: "file" });
    const scriptKind = path.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
    const sourceFile = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, scriptKind);
    for (const fn of measureFunctions(sourceFile)) {
      if (fn.lines > MAX_FUNCTION_LINES) {
        violations.push({ path, line: fn.line, lines: fn.lines, what: `${fn.name} (${fn.kind})` });
      }
    }
  }
  return violations;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const violations = findViolations(options.root);
  for (const v of violations) {
    const limit = v.what === "file" ? MAX_FILE_LINES : MAX_FUNCTION_LINES;
    console.log(`${relative(process.cwd(), v.path)}:${v.line} ${v.what}: ${v.lines} lines (limit ${limit})`);
  }
  const files = violations.filter((v) => v.what === "file").length;
  const functions = violations.length - files;
  console.log(
    `check-structure: ${files} file(s) over ${MAX_FILE_LINES} lines, ` +
      `${functions} function(s) over ${MAX_FUNCTION_LINES} lines`,
  );
  if (violations.length > 0 && !options.report) process.exit(1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
