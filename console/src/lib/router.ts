// Routes live in the URL's hash: the static host needs no rewrite for them, and Cognito's callback
// (?code=…&state=…) stays in the query string.
export type Route =
  | { name: "inbox" }
  | { name: "tip"; tipId: string }
  | { name: "stats" }
  | { name: "advisories" }
  | { name: "compose" }
  | { name: "advisory"; advisoryId: string }
  | { name: "audit"; tipId?: string }
  | { name: "blocks" };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "");
  const [, first, second] = path.split("/").map((p) => decodeURIComponent(p));
  switch (first) {
    case "tip":
      return second ? { name: "tip", tipId: second } : { name: "inbox" };
    case "stats":
      return { name: "stats" };
    case "advisories":
      if (second === "new") return { name: "compose" };
      return second ? { name: "advisory", advisoryId: second } : { name: "advisories" };
    case "audit":
      return second ? { name: "audit", tipId: second } : { name: "audit" };
    case "blocks":
      return { name: "blocks" };
    default:
      return { name: "inbox" };
  }
}

export function href(route: Route): string {
  switch (route.name) {
    case "inbox":
      return "#/inbox";
    case "tip":
      return `#/tip/${encodeURIComponent(route.tipId)}`;
    case "stats":
      return "#/stats";
    case "advisories":
      return "#/advisories";
    case "compose":
      return "#/advisories/new";
    case "advisory":
      return `#/advisories/${encodeURIComponent(route.advisoryId)}`;
    case "audit":
      return route.tipId ? `#/audit/${encodeURIComponent(route.tipId)}` : "#/audit";
    case "blocks":
      return "#/blocks";
  }
}
