// The console's API types are what openapi-typescript makes of the API's document (the document
// itself is checked against the API by tests/unit/test_console_api_types.py): no drift either way.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";

const API = resolve(import.meta.dirname, "..", "src", "api");

describe("generated API types", () => {
  it("match the committed OpenAPI document (run `make console-api` after changing the API)", async () => {
    const document = JSON.parse(readFileSync(resolve(API, "openapi.json"), "utf8"));
    const generated = astToString(await openapiTS(document));
    const committed = readFileSync(resolve(API, "schema.d.ts"), "utf8");
    const body = (text: string) => text.slice(text.indexOf("export interface paths"));
    expect(body(committed)).toBe(body(generated));
  });
});
