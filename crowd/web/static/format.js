// How numbers, money and time read on the pages.

const moneyFormats = new Map();

function moneyFormat(currency) {
  if (!moneyFormats.has(currency)) {
    let format;
    try {
      format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    } catch {
      format = null; // not an ISO currency code: plain numbers below
    }
    moneyFormats.set(currency, format);
  }
  return moneyFormats.get(currency);
}

/** An amount in integer minor units (5 = 5 cents) as money: "$0.05". */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return '—';
  if (!currency) return String(minor); // nothing earned yet: no currency
  const format = moneyFormat(currency);
  if (!format) return `${minor} ${currency} (minor units)`;
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(minor / 10 ** digits);
}

/** The number of minor units in one major unit of the currency. */
export function minorPerMajor(currency) {
  const format = currency ? moneyFormat(currency) : null;
  return format ? 10 ** format.resolvedOptions().maximumFractionDigits : 1;
}

/** A share (0–1) as a percentage: "87%". */
export function percent(share, digits = 0) {
  if (share === null || share === undefined) return '—';
  return `${(share * 100).toFixed(digits)}%`;
}

/** A probability with two decimals: "0.87". */
export function decimal(value, digits = 2) {
  if (value === null || value === undefined) return '—';
  return Number(value).toFixed(digits);
}

/** Seconds as m:ss, or h:mm:ss past an hour. */
export function clock(totalSeconds) {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Seconds in words, for screen readers: "1 minute 5 seconds". */
export function spokenDuration(totalSeconds) {
  const seconds = Math.max(0, Math.round(totalSeconds));
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  const parts = [];
  if (m) parts.push(`${m} minute${m === 1 ? '' : 's'}`);
  if (s || !m) parts.push(`${s} second${s === 1 ? '' : 's'}`);
  return parts.join(' ');
}

/** "3 tasks", "1 task". */
export function count(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
