// One error type for everything a user can get wrong. The runtime owns it so that an AOT user,
// who ships only runtime/, sees the same errors as a JIT user.

export type KilnErrorCode =
  | "INVALID_MODEL"    // malformed protobuf, dangling value, cycle, bad attribute
  | "UNSUPPORTED_OP"   // operator, domain, opset or type kiln does not handle
  | "SHAPE_MISMATCH"   // shapes that do not fit an operator or each other
  | "BAD_INPUT"        // wrong input name, dtype or dims at run time
  | "BAD_OPTION"       // an option (API, CLI, pass, kernel selection) that is unknown or out of range
  | "INVALID_ARTIFACT" // a .wasm that is not a kiln module, or of another format version
  | "INTERNAL";        // a bug in kiln

export interface KilnErrorContext {
  node?: string;
  op?: string;
  domain?: string;
  opset?: number;
  shapes?: string;
  /**
   * Values (graph inputs) whose contents decide shapes: compiling again with them frozen to
   * known values (CompileOptions.freeze) can succeed. The JIT and the test runner do that.
   */
  needsValue?: string[];
}

export class KilnError extends Error {
  readonly code: KilnErrorCode;
  readonly context: KilnErrorContext;
  constructor(code: KilnErrorCode, message: string, context: KilnErrorContext = {}) {
    const where = context.node !== undefined || context.op !== undefined
      ? ` [node ${JSON.stringify(context.node ?? "")}, ${context.domain ? context.domain + "." : ""}${context.op ?? "?"}${context.opset !== undefined ? " opset " + context.opset : ""}${context.shapes ? ", " + context.shapes : ""}]`
      : context.shapes ? ` [${context.shapes}]` : "";
    super(`${code}: ${capped(message)}${capped(where)}`);
    this.name = "KilnError";
    this.code = code;
    this.context = context;
  }
}

/** The most characters of a message (or of its context) an error keeps: one line, whatever the graph's size. */
const MAX_TEXT = 2000;

function capped(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)} ... (${text.length - MAX_TEXT} more characters)`;
}

/**
 * Items for a message, joined: at most `max` of them, then how many more. A node of 100,000 inputs
 * or a graph of 100,000 inputs names a few, not all (one error line was 1.4 MB).
 */
export function listed(items: readonly string[], max = 8, separator = ", "): string {
  if (items.length <= max) return items.join(separator);
  return `${items.slice(0, max).join(separator)}${separator}... (${items.length - max} more)`;
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}
