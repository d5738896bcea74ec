import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Api, Me, Unit } from "./api/client";
import { type Key, type Lang, translate } from "./i18n";

export interface AppContext {
  lang: Lang;
  t: (key: Key, params?: Record<string, string | number>) => string;
  api: Api;
  me: Me;
  units: Unit[];
  unitName: (unitId: string) => string;
  setTitle: (title: string) => void;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const value = useContext(Ctx);
  if (!value) throw new Error("outside the signed-in console");
  return value;
}

export function translator(lang: Lang) {
  return (key: Key, params?: Record<string, string | number>) => translate(lang, key, params);
}
