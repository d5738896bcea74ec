import type { ThreadMessage, TipStatus } from "../api/client";

/** The API's status transitions (service.TRANSITIONS): what the status menu offers. */
export const TRANSITIONS: Record<TipStatus, TipStatus[]> = {
  new: ["in_progress", "rejected", "spam"],
  in_progress: ["resolved", "rejected", "spam"],
  resolved: ["in_progress"],
  rejected: ["in_progress"],
  spam: ["in_progress"],
};

export const REASON_MIN = 3;
export const REASON_MAX = 500;

export type Mark = { symbol: string; key: "queued" | "sent" | "delivered" | "seen" | "deferred" | "failed" };

/** The delivery mark of a message the OA sent (none for the citizen's own or internal notes). */
export function deliveryMark(message: ThreadMessage): Mark | null {
  if (message.direction !== "out" || !message.delivery) return null;
  switch (message.delivery) {
    case "queued":
      return { symbol: "◷", key: "queued" };
    case "sent":
      return { symbol: "✓", key: "sent" };
    case "delivered":
      return { symbol: "✓✓", key: "delivered" };
    case "seen":
      return { symbol: "✓✓", key: "seen" };
    case "deferred":
      return { symbol: "◷", key: "deferred" };
    case "failed":
      return { symbol: "!", key: "failed" };
  }
}

export type Media = "image" | "video" | "audio" | "file";

/** How to show a stored attachment: by its sniffed content type first, then by Zalo's kind. */
export function mediaOf(contentType: string | null | undefined, kind: string | null | undefined): Media {
  const type = (contentType ?? "").toLowerCase();
  if (type.startsWith("image/")) return "image";
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  if (type) return "file";
  if (kind === "image" || kind === "gif" || kind === "sticker") return "image";
  if (kind === "video") return "video";
  if (kind === "audio" || kind === "voice") return "audio";
  return "file";
}

export interface Coordinates {
  latitude: number;
  longitude: number;
}

/** An attachment as the tip view lists it: Zalo's type, and for the typed views of the reader's
 * allowlist (`kind`, `attachment_id`, coordinates, a link's text) the fields that say more. */
export interface LooseAttachment {
  type?: unknown;
  kind?: unknown;
  attachment_id?: unknown;
  latitude?: unknown;
  longitude?: unknown;
  url?: unknown;
  description?: unknown;
  name?: unknown;
}

/** The message fields the thread reads, in either shape of the tip view (a `location` of its own,
 * or a location among the attachments). */
export interface LooseMessage {
  location?: Record<string, unknown> | null;
  attachments: LooseAttachment[];
  evidence: { attachment_id: string }[];
  unreadable?: boolean;
}

export function coordinates(location: Record<string, unknown> | LooseAttachment | null | undefined): Coordinates | null {
  if (!location) return null;
  const raw = location as Record<string, unknown>;
  const latitude = Number(raw.latitude ?? raw.lat);
  const longitude = Number(raw.longitude ?? raw.lng ?? raw.lon);
  if (raw.latitude === undefined && raw.lat === undefined) return null;
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return null;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  return { latitude, longitude };
}

const kindOf = (a: LooseAttachment) => String(a.type ?? a.kind ?? "file");

/** The places a message carries. */
export function locations(message: LooseMessage): Coordinates[] {
  const found = [coordinates(message.location)];
  for (const a of message.attachments) if (kindOf(a) === "location" || a.kind === "location") found.push(coordinates(a));
  return found.filter((c): c is Coordinates => c !== null);
}

/** A map for the coordinates, opened only when the officer clicks (never loaded by the console). */
export function mapLink({ latitude, longitude }: Coordinates): string {
  return `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`;
}

const STORED = new Set(["image", "gif", "video", "audio", "voice", "file"]);

/** Attachments that will have stored evidence but have none yet (still being fetched), by kind.
 * Never a Zalo URL: only the kind is shown. */
export function pendingKinds(message: LooseMessage): string[] {
  const kept = new Set(message.evidence.map((e) => e.attachment_id));
  return message.attachments
    .filter((a) => STORED.has(kindOf(a)) || a.kind === "media" || a.kind === "file")
    .filter((a) => (typeof a.attachment_id === "string" ? !kept.has(a.attachment_id) : message.evidence.length === 0))
    .map(kindOf);
}

export function normaliseLabel(text: string): string {
  return text.trim().replace(/\s+/g, " ").slice(0, 40);
}
