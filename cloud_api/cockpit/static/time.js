// Local dates of a building's time zone (IANA name from the API) without a library: the
// energy API takes local dates (YYYY-MM-DD), the series and demand APIs epoch seconds.

const partFormats = new Map();
function parts(ts, timeZone) {
  let f = partFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    partFormats.set(timeZone, f);
  }
  const out = {};
  for (const p of f.formatToParts(new Date(ts * 1000))) {
    if (p.type !== "literal") out[p.type] = Number(p.value);
  }
  return out;
}

// Seconds the zone is ahead of UTC at instant ts.
function offsetAt(ts, timeZone) {
  const p = parts(ts, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) / 1000;
  return asUtc - Math.floor(ts);
}

export function localDay(ts, timeZone) {
  const p = parts(ts, timeZone);
  return isoDay(p.year, p.month, p.day);
}

export function isoDay(year, month, day) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${String(year).padStart(4, "0")}-${pad(month)}-${pad(day)}`;
}

function split(day) {
  const [y, m, d] = day.split("-").map(Number);
  return { y, m, d };
}

// Epoch seconds of a local date's midnight in `timeZone` (checked twice across a DST change).
export function midnight(day, timeZone) {
  const { y, m, d } = split(day);
  const naive = Date.UTC(y, m - 1, d) / 1000;
  let ts = naive - offsetAt(naive, timeZone);
  ts = naive - offsetAt(ts, timeZone);
  return ts;
}

export function addDays(day, n) {
  const { y, m, d } = split(day);
  const date = new Date(Date.UTC(y, m - 1, d + n));
  return isoDay(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate());
}

export function monthStart(day) {
  const { y, m } = split(day);
  return isoDay(y, m, 1);
}

export function addMonths(day, n) {
  const { y, m } = split(day);
  const index = y * 12 + (m - 1) + n;
  return isoDay(Math.floor(index / 12), (index % 12) + 1, 1);
}

export function yearStart(day, add = 0) {
  return isoDay(split(day).y + add, 1, 1);
}

export function month(day) {
  return day.slice(0, 7);
}

// The same local date a year earlier (29 Feb -> 28 Feb).
export function yearEarlier(day) {
  const { y, m, d } = split(day);
  const last = new Date(Date.UTC(y - 1, m, 0)).getUTCDate();
  return isoDay(y - 1, m, Math.min(d, last));
}
