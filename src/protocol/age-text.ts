// An age in words, as status, its notes and doctor's lines from them say it: "52 seconds", "3 minutes".
import { count } from "../spec/diagnostics.ts";

/** `s` seconds in words: "52 seconds" ("1 second") under 2 minutes, else whole minutes ("3 minutes"). */
export const secondsText = (s: number) =>
  s < 120 ? count(s, "second") : count(Math.round(s / 60), "minute");

/** "52 seconds ago", "3 minutes ago". */
export const agoText = (s: number) => `${secondsText(s)} ago`;
