// Every visible string goes through t(key, vars). The dictionaries are JSON files
// (i18n/zh-CN.json, i18n/en.json; a test checks they have the same keys); Chinese is the
// default, English is chosen by the switch and remembered in localStorage "steward.lang".
// Numbers, dates and times are formatted for the language too.

const STORAGE_KEY = "steward.lang";
export const LANGS = ["zh-CN", "en"];
const dictionaries = {};
let current = "zh-CN";

export async function loadDictionaries() {
  const base = new URL("./i18n/", import.meta.url);
  await Promise.all(
    LANGS.map(async (lang) => {
      const res = await fetch(new URL(`${lang}.json`, base), { credentials: "same-origin" });
      if (!res.ok) throw new Error(`i18n/${lang}.json: HTTP ${res.status}`);
      dictionaries[lang] = await res.json();
    }),
  );
  const saved = safeStorage("get", STORAGE_KEY);
  current = LANGS.includes(saved) ? saved : "zh-CN";
  document.documentElement.lang = current;
}

export function lang() {
  return current;
}

export function setLang(next) {
  if (!LANGS.includes(next)) return;
  current = next;
  safeStorage("set", STORAGE_KEY, next);
  document.documentElement.lang = next;
}

export function has(key) {
  return key in (dictionaries[current] || {});
}

// t("alarms.count", {n: 3}) -> the language's text with {n} replaced. A missing key shows
// the key itself (never an empty label) and is reported once on the console as a warning.
const reported = new Set();
export function t(key, vars) {
  let text = dictionaries[current]?.[key];
  if (text === undefined) {
    if (!reported.has(key)) {
      reported.add(key);
      console.warn(`i18n: no text for ${key} in ${current}`);
    }
    text = key;
  }
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

// A translation when the dictionary has one (alarm codes, slot names, ...), else the raw text.
export function tOr(key, fallback) {
  return has(key) ? t(key) : fallback;
}

const numberFormats = new Map();
export function formatNumber(value, digits = 0) {
  const id = `${current}|${digits}`;
  let f = numberFormats.get(id);
  if (!f) {
    f = new Intl.NumberFormat(current === "en" ? "en-US" : "zh-CN", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    numberFormats.set(id, f);
  }
  return f.format(value);
}

const dateFormats = new Map();
function dateFormat(timeZone, options) {
  const id = `${current}|${timeZone}|${JSON.stringify(options)}`;
  let f = dateFormats.get(id);
  if (!f) {
    f = new Intl.DateTimeFormat(current === "en" ? "en-GB" : "zh-CN", {
      timeZone,
      hourCycle: "h23",
      ...options,
    });
    dateFormats.set(id, f);
  }
  return f;
}

// Epoch seconds as local time of `timeZone` (the building's): "14:05:09".
export function formatTime(ts, timeZone, seconds = true) {
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (seconds) opts.second = "2-digit";
  return dateFormat(timeZone, opts).format(new Date(ts * 1000));
}

// Epoch seconds as local date and time: "11-30 14:05" in both languages (en-GB's
// "30/11, 14:05" reads as a month/day to half of the English-reading world).
export function formatDateTime(ts, timeZone) {
  const parts = dateFormat(timeZone, {
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  }).formatToParts(new Date(ts * 1000));
  const part = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  return `${part.month}-${part.day} ${part.hour}:${part.minute}`;
}

function safeStorage(op, key, value) {
  try {
    if (op === "get") return window.localStorage.getItem(key);
    window.localStorage.setItem(key, value);
  } catch {
    // storage disabled (private mode): the choice lasts for this page only
  }
  return null;
}
export { safeStorage };
