// The local stack (`tipline-local serve`, what `make dev` runs) as a subprocess for the browser tests,
// and the Zalo simulator's controls: a citizen writes, what citizens received.
import { type ChildProcess, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { deflateSync, crc32 } from "node:zlib";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const OA_HOAN_KIEM = "429006714426370112"; // demo OA of unit pc02-hoan-kiem
const READY = /ready in ([\d.]+) s at (http:\/\/127\.0\.0\.1:\d+)/;
// A displayed tip code: 5 characters, a dash, 4 and a check symbol.
export const CODE = /([0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{4}[0-9A-HJKMNP-TV-Z*~$=U])/;

export async function until<T>(check: () => Promise<T | null | undefined | false> | T | null | undefined | false, seconds: number, what: string): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

export interface Info {
  webhook: string;
  zalo: string;
  aws: string;
}

export class Stack {
  url = "";
  info!: Info;
  output = "";
  private process!: ChildProcess;

  async start(): Promise<void> {
    const command = resolve(ROOT, ".venv", "bin", "tipline-local");
    if (!existsSync(command)) throw new Error(`${command} is missing: run make setup`);
    this.process = spawn(command, ["serve"], {
      cwd: ROOT,
      env: { ...process.env, TIPLINE_PORT: "0", POWERTOOLS_LOG_LEVEL: "WARNING" },
      detached: true, // its own process group: stop() ends everything it started
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.process.stdout!.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    this.process.stderr!.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    const found = await until(
      () => {
        if (this.process.exitCode !== null) throw new Error(`the stack exited ${this.process.exitCode}:\n${this.output.slice(-3000)}`);
        return READY.exec(this.output);
      },
      180,
      "the local stack's ready line",
    );
    this.url = found[2]!;
    this.info = (await (await fetch(`${this.url}/_local/info`)).json()) as Info;
  }

  async stop(): Promise<void> {
    if (!this.process || this.process.exitCode !== null) return;
    const exited = new Promise((r) => this.process.once("exit", r));
    process.kill(-this.process.pid!, "SIGINT");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    if (this.process.exitCode === null) process.kill(-this.process.pid!, "SIGKILL");
  }

  async citizen(user: string, body: Record<string, unknown>): Promise<void> {
    const answer = await fetch(`${this.info.zalo}/_sim/citizen`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ oa_id: OA_HOAN_KIEM, user_id: user, webhook_url: this.info.webhook, ...body }),
    });
    const result = (await answer.json()) as { status: number };
    if (result.status !== 200) throw new Error(`the webhook answered ${JSON.stringify(result)}`);
  }

  async says(user: string, text: string): Promise<void> {
    await this.citizen(user, { text });
  }

  /** The citizen sends a photo: the simulator serves it as Zalo's CDN would. */
  async sendsImage(user: string, png: Buffer): Promise<void> {
    const name = `photo-${user}.png`;
    await fetch(`${this.info.zalo}/_sim/media`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, content_b64: png.toString("base64"), content_type: "image/png" }),
    });
    const url = `${this.info.zalo}/media/${name}`;
    await this.citizen(user, { event_name: "user_send_image", text: "", attachments: [{ type: "image", payload: { url, thumbnail: url } }] });
  }

  async sentTo(user: string): Promise<{ text?: string; kind?: string }[]> {
    const all = (await (await fetch(`${this.info.zalo}/_sim/sent`)).json()) as { user_id: string; text?: string; kind?: string }[];
    return all.filter((m) => m.user_id === user);
  }

  async runSchedule(logicalId: string): Promise<void> {
    const answer = await fetch(`${this.url}/_local/schedules/${logicalId}`, { method: "POST" });
    if (!answer.ok) throw new Error(`schedule ${logicalId}: HTTP ${answer.status}`);
  }

  /** A token of a demo identity, from the local sign-in endpoint (what the sign-in page uses). */
  async token(unitId: string, role: "officer" | "commander"): Promise<string> {
    const answer = await fetch(`${this.url}/_local/console/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ unit_id: unitId, role }),
    });
    return ((await answer.json()) as { token: string }).token;
  }

  async api<T>(token: string, path: string): Promise<T> {
    const answer = await fetch(`${this.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
    return (await answer.json()) as T;
  }
}

export function citizenId(): string {
  return `7${String(randomInt(0, 10 ** 12)).padStart(12, "0")}${String(randomInt(0, 1000)).padStart(3, "0")}`;
}

/** A real PNG (160×120, a blue sky over a green field with a red box): what a citizen's photo would be. */
export function photo(): Buffer {
  const width = 160;
  const height = 120;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const i = y * (width * 3 + 1) + 1 + x * 3;
      const box = x > 60 && x < 100 && y > 50 && y < 90;
      const [r, g, b] = box ? [200, 30, 30] : y < 60 ? [90, 160, 230] : [60, 150, 70];
      raw[i] = r;
      raw[i + 1] = g;
      raw[i + 2] = b;
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
