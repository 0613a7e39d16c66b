import { appendFileSync } from "node:fs";
import { join } from "node:path";

/**
 * An engine trace for benchmarks (`bench/scaleout.mjs` with `BENCH_TRACE=1`): with
 * `AGENTBATCH_ENGINE_TRACE=dir` set, each process appends its events as JSON lines to
 * `dir/<pid>.jsonl` (kept in memory, written every second and at exit). Unset (always, outside a
 * bench), `engineTrace` is undefined and each call site is one property check.
 *
 * Events: `[t, kind, ...fields]`, `t` in epoch ms with fractions (`performance`'s clock).
 */
export type TraceEvent = (string | number)[];

export interface EngineTrace {
  event(kind: string, ...fields: (string | number)[]): void;
  now(): number;
}

function open(dir: string): EngineTrace {
  const file = join(dir, `${process.pid}.jsonl`);
  const origin = performance.timeOrigin;
  let lines: string[] = [];
  const write = () => {
    if (lines.length === 0) return;
    const text = `${lines.join("\n")}\n`;
    lines = [];
    try {
      appendFileSync(file, text);
    } catch {
      // a bench's trace: nothing to do about a failed write
    }
  };
  setInterval(write, 1000).unref();
  process.on("exit", write);
  const now = () => origin + performance.now();
  return {
    now,
    event(kind, ...fields) {
      lines.push(JSON.stringify([Math.round(now() * 10) / 10, kind, ...fields]));
    },
  };
}

const dir = process.env.AGENTBATCH_ENGINE_TRACE;
export const engineTrace: EngineTrace | undefined = dir ? open(dir) : undefined;
