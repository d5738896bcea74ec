// The officer API, typed from its OpenAPI document (schema.d.ts is generated: `make console-api`).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type TipSummary = Schemas["TipSummary"];
export type TipPageResult = Schemas["TipPage"];
export type TipDetail = Schemas["TipDetail"];
export type TipStatus = Schemas["TipStatus"];
export type ThreadMessage = Schemas["ThreadMessage"];
export type EvidenceItem = Schemas["EvidenceItem"];
export type Me = Schemas["Me"];
export type Unit = Schemas["Unit"];
export type UnitStats = Schemas["UnitStats"];
export type Advisory = Schemas["Advisory"];
export type AdvisoryDetail = Schemas["AdvisoryDetail"];
export type AdvisoryInput = Schemas["AdvisoryInput"];
export type RunReport = Schemas["RunReport"];
export type OaReport = Schemas["OaReport"];
export type AuditRecord = Schemas["AuditRecord"];
export type Block = Schemas["Block"];
export type Category = Schemas["Category"];
export type TipChanges = Schemas["TipChanges"];

/** GET /v1/tips/{tip_id}/attachments/{attachment_id} answers a link (its schema is a free object). */
export interface AttachmentLink {
  status: string;
  kind?: string | null;
  content_type?: string | null;
  reason?: string | null;
  url?: string | null;
  size?: number | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Api = ReturnType<typeof makeApi>;

/** A client for one session: every request carries its token; a 401 ends the session. */
export function makeApi(token: () => string | null, onUnauthorized: () => void) {
  const client = createClient<paths>({ baseUrl: "" });
  const auth: Middleware = {
    onRequest({ request }) {
      const value = token();
      if (value) request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) onUnauthorized();
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** The data of an openapi-fetch answer, or an ApiError with the API's message. */
export function must<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data !== undefined && answer.response.ok) return answer.data;
  throw new ApiError(answer.response.status, errorMessage(answer.error) ?? answer.response.statusText);
}

function errorMessage(error: unknown): string | undefined {
  if (error && typeof error === "object") {
    const body = error as { message?: unknown; detail?: unknown };
    if (typeof body.message === "string") return body.message;
    if (Array.isArray(body.detail)) return body.detail.map((d) => (d as { msg?: string }).msg ?? "").join("; ");
  }
  return undefined;
}
