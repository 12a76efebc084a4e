/** Tag matchers: tag key → an exact value, or a regular expression written as "/re/". */
export type TagMatchers = Readonly<Record<string, string>>;

export type CompiledTagMatcher = (tags: Readonly<Record<string, string>>) => boolean;

/** Whether a matcher value is a "/regex/" rather than an exact value. */
export const isRegexMatcher = (value: string): boolean => value.length >= 2 && value.startsWith("/") && value.endsWith("/");

/**
 * Compiles matchers once. Regexes are anchored and "." matches newlines, as in Prometheus' `=~`;
 * a point lacking a matched tag never matches. Throws a SyntaxError for an invalid regex.
 */
export function compileTagMatchers(matchers: TagMatchers): CompiledTagMatcher {
  const tests = Object.entries(matchers).map(([key, want]): [string, (v: string) => boolean] => {
    if (isRegexMatcher(want)) {
      const re = new RegExp(`^(?:${want.slice(1, -1)})$`, "s");
      return [key, (v) => re.test(v)];
    }
    return [key, (v) => v === want];
  });
  return (tags) => {
    for (const [key, test] of tests) {
      const v = tags[key];
      if (v === undefined || !test(v)) return false;
    }
    return true;
  };
}
