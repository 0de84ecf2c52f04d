import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // every compile in the tests runs the IR verifier after each pass, naming the pass that broke the graph
    env: { KILN_VERIFY_EACH: "1" },
  },
});
