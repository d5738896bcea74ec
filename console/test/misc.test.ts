import { describe, expect, it } from "vitest";
import { CATALOGUE, translate } from "../src/i18n";
import { href, parseRoute } from "../src/lib/router";
import { coordinates, deliveryMark, locations, mapLink, mediaOf, pendingKinds, TRANSITIONS } from "../src/lib/tip";
import type { ThreadMessage } from "../src/api/client";

const message = (patch: Partial<ThreadMessage>): ThreadMessage => ({ direction: "out", kind: "officer_reply", at: null, attachments: [], evidence: [], grouped: false, unreadable: false, ...patch });

describe("the catalogue", () => {
  const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  it("has every Vietnamese string in English, with the same placeholders, none empty", () => {
    expect(Object.keys(CATALOGUE.en).sort()).toEqual(Object.keys(CATALOGUE.vi).sort());
    for (const [key, text] of Object.entries(CATALOGUE.vi)) {
      const english = CATALOGUE.en[key as keyof typeof CATALOGUE.en];
      expect(text.trim(), key).not.toBe("");
      expect(english.trim(), key).not.toBe("");
      expect(placeholders(english), key).toEqual(placeholders(text));
    }
  });
  it("fills placeholders", () => {
    expect(translate("vi", "reply_count", { count: 12, limit: 2000 })).toBe("12/2000 ký tự");
    expect(translate("en", "reply_count", { count: 12, limit: 2000 })).toBe("12/2000 characters");
  });
});

describe("routes", () => {
  it("round-trip through the hash", () => {
    for (const route of [
      { name: "inbox" },
      { name: "tip", tipId: "a b/c" },
      { name: "stats" },
      { name: "advisories" },
      { name: "compose" },
      { name: "advisory", advisoryId: "x1" },
      { name: "audit" },
      { name: "audit", tipId: "t1" },
      { name: "blocks" },
    ] as const) {
      expect(parseRoute(href(route))).toEqual(route);
    }
    expect(parseRoute("#/nowhere")).toEqual({ name: "inbox" });
    expect(parseRoute("")).toEqual({ name: "inbox" });
  });
});

describe("a tip's thread", () => {
  it("marks what the OA sent: sent, received, seen", () => {
    expect(deliveryMark(message({ delivery: "sent" }))).toEqual({ symbol: "✓", key: "sent" });
    expect(deliveryMark(message({ delivery: "delivered" }))?.key).toBe("delivered");
    expect(deliveryMark(message({ delivery: "seen" }))?.key).toBe("seen");
    expect(deliveryMark(message({ direction: "in", delivery: "seen" }))).toBeNull();
  });
  it("shows evidence by its sniffed type before Zalo's word", () => {
    expect(mediaOf("image/png", "file")).toBe("image");
    expect(mediaOf("video/mp4", "image")).toBe("video");
    expect(mediaOf("application/pdf", "image")).toBe("file");
    expect(mediaOf(null, "voice")).toBe("audio");
    expect(mediaOf(undefined, "gif")).toBe("image");
  });
  it("reads coordinates in either shape of the tip view and links a map only as a link", () => {
    const own = { location: { latitude: "21.0285", longitude: "105.8542" }, attachments: [], evidence: [] };
    expect(locations(own)).toEqual([{ latitude: 21.0285, longitude: 105.8542 }]);
    const listed = { attachments: [{ kind: "location", type: "location", latitude: 10.77, longitude: 106.7 }], evidence: [] };
    expect(locations(listed)).toEqual([{ latitude: 10.77, longitude: 106.7 }]);
    expect(mapLink(locations(own)[0]!)).toMatch(/^https:\/\/www\.openstreetmap\.org\/\?mlat=21\.0285&mlon=105\.8542/);
    expect(coordinates({ latitude: "999", longitude: "1" })).toBeNull();
    expect(coordinates(null)).toBeNull();
  });
  it("lists attachments still being fetched, never their Zalo URL", () => {
    // The earlier shape of the tip view: Zalo's attachment as stored (its URL never shown).
    const stored = { attachments: [{ type: "image", payload: { url: "https://zalo.example/x" } }, { type: "location" }], evidence: [] };
    expect(pendingKinds(stored)).toEqual(["image"]);
    const typed = {
      attachments: [
        { kind: "media", type: "image", attachment_id: "a1" },
        { kind: "media", type: "video", attachment_id: "a2" },
        { kind: "link", type: "link", url: "https://x.vn" },
      ],
      evidence: [{ attachment_id: "a1" }],
    };
    expect(pendingKinds(typed)).toEqual(["video"]);
  });
  it("offers the API's status transitions", () => {
    expect(TRANSITIONS.new).toEqual(["in_progress", "rejected", "spam"]);
    expect(TRANSITIONS.resolved).toEqual(["in_progress"]);
  });
});
