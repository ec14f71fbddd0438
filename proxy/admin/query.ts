// Admin query strings, decoded as Envoy's parseAndDecodeQueryString: `&`-separated `key[=value]`, %XX decoded,
// `+` left as it is (so `?filter=rq_\d+` keeps its `+`). A key without `=` has the value "".

export type Query = ReadonlyMap<string, string>;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseQuery(pathAndQuery: string): { path: string; query: Query } {
  const q = pathAndQuery.indexOf("?");
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = new Map<string, string>();
  if (q >= 0) {
    for (const part of pathAndQuery.slice(q + 1).split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const key = decode(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? "" : decode(part.slice(eq + 1));
      if (!query.has(key)) query.set(key, value);
    }
  }
  return { path, query };
}
