import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { apiUrl, authHeaders } from "./api-client.js";

describe("CLI API client", () => {
  it("takes --token over ANSAI_TOKEN, and sends nothing without either", () => {
    expect(authHeaders("flag", { ANSAI_TOKEN: "env" })).toEqual({ authorization: "Bearer flag" });
    expect(authHeaders(undefined, { ANSAI_TOKEN: "env" })).toEqual({ authorization: "Bearer env" });
    expect(authHeaders(undefined, {})).toEqual({});
    expect(authHeaders(undefined, { ANSAI_TOKEN: "" })).toEqual({});
  });

  it.each([
    ["api: {listen: 0.0.0.0, port: 1234}", "http://127.0.0.1:1234"],
    ["api: {listen: '::1'}", "http://[::1]:9847"],
    ["api: {listen: 10.0.0.5}", "http://10.0.0.5:9847"],
  ])("reaches %s at %s", (yaml, url) => {
    expect(apiUrl(parseConfig(`version: 1\n${yaml}\n`, "test.yaml"))).toBe(url);
  });
});
