import { defineConfig } from "vitest/config";

// The browser tests: real Chromium (Debian's /usr/bin/chromium) driven by playwright-core against one
// local stack (`tipline-local serve`) started for the whole file.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
    reporters: ["default"],
  },
});
