import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    // The outage replay's end-to-end checks run real HTTP against compressed time, so another test file running on
    // the same two cores would skew their ratios; files therefore run one at a time.
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 30_000
  }
})
