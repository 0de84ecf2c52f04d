// Compile progress on a terminal: one line, redrawn in place, shown only once a compile has run
// for a second (a short compile prints nothing), never when standard error is not a terminal
// (logs and pipes stay clean) or with --quiet.
import type { CompileProgress } from "../progress.js";

/** What the line is drawn on: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface ProgressLine {
  /** pass to CompileOptions.onProgress */
  update(p: CompileProgress): void;
  /** erase the line (call when the compile ends, failed or not) */
  end(): void;
}

/** "codegen relaxed: layer 12/39", "passes: fuse-epilogue (7/10)" */
export function describeProgress(p: CompileProgress): string {
  const of = p.done !== undefined && p.total !== undefined ? `${p.done}/${p.total}` : "";
  switch (p.stage) {
    case "shapes": return "shape inference";
    case "passes": return `passes: ${p.detail} (${(p.done ?? 0) + 1}/${p.total})`;
    case "prepare": return `preparing weights: layer ${of}`;
    case "codegen": return `code generation${p.detail ? ` (${p.detail} build)` : ""}: layer ${of}`;
    case "done": return "done";
  }
}

/**
 * A progress line on `stream`, or undefined when it is not a terminal. Redraws at most every
 * `intervalMs`, starting `delayMs` after it was made.
 */
export function progressLine(stream: ProgressStream, options: { delayMs?: number; intervalMs?: number; now?: () => number } = {}): ProgressLine | undefined {
  if (!stream.isTTY) return undefined;
  const now = options.now ?? (() => performance.now());
  const start = now();
  const delay = options.delayMs ?? 1000;
  const interval = options.intervalMs ?? 100;
  let drawn = false;
  let last = -Infinity;
  return {
    update(p) {
      const t = now();
      if (t - start < delay || (t - last < interval && p.stage !== "done")) return;
      last = t;
      const text = `kiln: ${describeProgress(p)}  ${((t - start) / 1000).toFixed(1)} s`;
      const width = Math.max(20, (stream.columns || 80) - 1); // 0 when the terminal does not say
      stream.write(`\r\x1b[K${text.slice(0, width)}`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
