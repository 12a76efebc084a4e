/** A tag matcher: an exact value, or a regular expression written as "/re/". */
export type TagMatchers = Readonly<Record<string, string>>;

export type CompiledTagMatcher = (tags: Readonly<Record<string, string>>) => boolean;

/** Compiles matchers once; "/re/" values are anchored regexes, others exact strings. */
export function compileTagMatchers(matchers: TagMatchers): CompiledTagMatcher {
  const tests = Object.entries(matchers).map(([key, want]): ((tags: Readonly<Record<string, string>>) => boolean) => {
    if (want.length >= 2 && want.startsWith("/") && want.endsWith("/")) {
      // "s": dot matches newlines too, as in Prometheus label matchers.
      const re = new RegExp(`^(?:${want.slice(1, -1)})$`, "s");
      return (tags) => re.test(tags[key] ?? "");
    }
    return (tags) => tags[key] === want;
  });
  return (tags) => tests.every((test) => test(tags));
}
