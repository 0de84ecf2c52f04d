// What a compile reports as it goes (CompileOptions.onProgress): kiln compile draws it on a
// terminal (cli/progress-line.ts); an API caller may show it however it likes.

/** One step of a compile, for progress displays. */
export interface CompileProgress {
  stage: "shapes" | "passes" | "prepare" | "codegen" | "done";
  /** the pass running, or the build being generated ("baseline", "relaxed") */
  detail?: string;
  /** passes or layers done so far, of total */
  done?: number;
  total?: number;
}
