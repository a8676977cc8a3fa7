// Small statistics helpers: percentiles of raw samples, median and [min, max] over repetitions.
export function percentiles(samples, ps = [50, 90, 99, 99.9]) {
  if (!samples.length) return Object.fromEntries(ps.map((p) => [`p${p}`, null]).concat([['max', null], ['n', 0]]));
  const s = Float64Array.from(samples).sort();
  const at = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { ...Object.fromEntries(ps.map((p) => [`p${p}`, at(p)])), max: s[s.length - 1], n: s.length };
}

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** { median, min, max, n } of the finite numbers in xs. */
export function summary(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return { median: null, min: null, max: null, n: 0 };
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

export const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null);

/** Rotate a list by k (repetition k starts with a different target). */
export const rotate = (list, k) => list.map((_, i) => list[(i + k) % list.length]);

export function fmt(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return 'n/a';
  if (typeof x !== 'number') return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toFixed(digits)).toString();
}
