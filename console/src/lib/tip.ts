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

export function coordinates(location: Record<string, string> | null | undefined): Coordinates | null {
  if (!location) return null;
  const latitude = Number(location.latitude ?? location.lat);
  const longitude = Number(location.longitude ?? location.lng ?? location.lon);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return null;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  return { latitude, longitude };
}

/** A map for the coordinates, opened only when the officer clicks (never loaded by the console). */
export function mapLink({ latitude, longitude }: Coordinates): string {
  return `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`;
}

/** Attachment kinds in a message that have no stored evidence yet (still being fetched). */
export function pendingKinds(message: ThreadMessage): string[] {
  if (message.evidence.length) return [];
  return message.attachments.map((a) => String((a as { type?: unknown }).type ?? "file")).filter((k) => k !== "location");
}

export function normaliseLabel(text: string): string {
  return text.trim().replace(/\s+/g, " ").slice(0, 40);
}
