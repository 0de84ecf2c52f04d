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
    super(`${code}: ${message}${where}`);
    this.name = "KilnError";
    this.code = code;
    this.context = context;
  }
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}
