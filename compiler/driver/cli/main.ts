// The kiln command line. This module loads only the argument parser and the usage text: each
// command's module is imported when that command runs, and only the commands that compile load
// the compiler and binaryen (about a second of start-up), so kiln --help, kiln run model.wasm
// and kiln inspect model.wasm start in the time Node takes. kiln bench, pack and serve live above
// the driver (bench/, ship/); bin/kiln.js sends those there, and they run through runCommand too.
import { isKilnError } from "../../../runtime/errors.js";
import { COMPILE_FLAGS, QUANTIZE_FLAGS, parseArgs, UsageError, type Args, type CommandSpec } from "./args.js";
import { USAGE } from "./usage.js";

type Run = (args: Args) => Promise<number>;

const COMMANDS: Record<string, { load: () => Promise<Run>; flags: CommandSpec }> = {
  compile: {
    load: async () => (await import("./cmd-compile.js")).cmdCompile,
    flags: { values: ["o", "output", ...COMPILE_FLAGS, "simd", "threads", "report", "runtime-import", "name", "weights", "memory-budget", ...QUANTIZE_FLAGS], booleans: ["time-passes", "verify-each", "quiet", "emit-ts", "prepack"], positionals: [1, 1] },
  },
  inspect: {
    load: async () => (await import("./cmd-inspect.js")).cmdInspect,
    flags: { values: [...COMPILE_FLAGS, "after"], booleans: ["time-passes", "verify-each", "json", "all-constants"], positionals: [1, 1] },
  },
  run: {
    load: async () => (await import("./cmd-run.js")).cmdRun,
    flags: { values: [...COMPILE_FLAGS, "input", "data", "simd", "threads", "profile", "save", "weights", "memory-budget"], booleans: ["json", "verify-each"], positionals: [1, 1] },
  },
  pack: {
    load: async () => (await import("./cmd-pack.js")).cmdPack,
    flags: { values: ["o", ...COMPILE_FLAGS, "simd", "target", "name"], booleans: ["quiet", "verify-each", "prepack"], positionals: [1, 1] },
  },
  serve: {
    load: async () => (await import("./cmd-serve.js")).cmdServe,
    flags: { values: ["port", "host", "workers", ...COMPILE_FLAGS, "simd"], booleans: ["quiet", "verify-each"], positionals: [1, 1] },
  },
  test: { load: async () => (await import("./cmd-compile.js")).cmdTest, flags: { values: ["O", "simd", "kernels", "atol", "rtol"], booleans: ["json"], positionals: [1, Infinity], needs: "ONNX test folders (each a model.onnx with test_data_set_N folders beside it)" } },
  opt: { load: async () => (await import("./cmd-compile.js")).cmdOpt, flags: { values: ["passes", "o"], booleans: ["time-passes", "verify-each"], positionals: [1, 1] } },
};

/** Commands bin/kiln.js runs from other folders (their modules are above the driver). */
export const OTHER_COMMANDS = ["bench"];

/** `kiln CMD ...` */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(USAGE);
    return 0;
  }
  // no command: a usage error (exit 2), as an unknown one is
  if (!cmd) {
    console.error(`kiln: BAD_OPTION: no command; the commands are ${[...Object.keys(COMMANDS), ...OTHER_COMMANDS].join(", ")}\n\n${USAGE}`);
    return 2;
  }
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!command) {
    console.error(`kiln: BAD_OPTION: unknown command ${JSON.stringify(cmd)}; the commands are ${[...Object.keys(COMMANDS), ...OTHER_COMMANDS].join(", ")}\n\n${USAGE}`);
    return 2;
  }
  return runCommand(rest, async (args) => (await command.load())(args), command.flags, cmd);
}

/** Parse a command's arguments (its flags only), run it, and turn its failure into a message and an exit code. */
export async function runCommand(argv: string[], run: Run, flags: CommandSpec, name: string): Promise<number> {
  let args: Args | undefined;
  try {
    args = parseArgs(argv, flags, name);
    if (args.flags.has("help")) {
      console.log(USAGE);
      return 0;
    }
    return await run(args);
  } catch (e) {
    const verbose = args?.flags.has("verbose") ?? argv.includes("--verbose");
    if (e instanceof UsageError) {
      console.error(`kiln: ${e.message}\n\n${USAGE}`);
      if (verbose) console.error(e.stack);
      return 2;
    }
    if (isKilnError(e)) console.error(`kiln: ${e.message}`);
    else console.error(`kiln: internal error: ${(e as Error).message ?? e}`);
    if (verbose && e instanceof Error) console.error(e.stack);
    // an option the user got wrong is a usage error
    return isKilnError(e) && e.code === "BAD_OPTION" ? 2 : 1;
  }
}
