// Summaries (median and [min, max] over repetitions; ratios computed within each repetition,
// then summarised) and the markdown report with every issue target marked met / not met.
import { summary, fmt } from './lib/stats.mjs';

function anyDisturbed(x) {
  if (!x || typeof x !== 'object') return 0;
  let n = x.disturbed === true ? 1 : 0;
  for (const v of Object.values(x)) if (v && typeof v === 'object') n += anyDisturbed(v);
  return n;
}

export function summarize(modules, results) {
  const scenarios = {};
  for (const mod of modules) {
    const res = results[mod.name];
    const reps = res.reps.filter((r) => !r.crashed);
    const targets = {};
    for (const r of reps) for (const [t, ms] of Object.entries(r.metrics ?? {})) {
      targets[t] ??= {};
      for (const [k, v] of Object.entries(ms)) (targets[t][k] ??= []).push(v);
    }
    for (const t of Object.keys(targets)) for (const k of Object.keys(targets[t])) targets[t][k] = summary(targets[t][k]);
    const ratios = {};
    for (const [name, fn] of Object.entries(mod.ratios ?? {})) {
      const vals = reps.map((r) => { try { return fn(r.metrics ?? {}, r); } catch { return null; } });
      if (vals.some((v) => v != null)) ratios[name] = { ...summary(vals), perRep: vals };
    }
    const skipped = Object.assign({}, ...reps.map((r) => r.skipped ?? {}));
    const failed = Object.assign({}, ...reps.map((r) => r.failed ?? {}));
    const crashed = res.reps.filter((r) => r.crashed).map((r) => r.crashed);
    const checks = (mod.checksFor?.(res.params) ?? mod.checks ?? []).map((c) => {
      const s = c.ratio ? ratios[c.ratio] : targets[c.metric[0]]?.[c.metric[1]];
      const v = s?.median ?? null;
      const met = v == null ? null : c.op === '<=' ? v <= c.limit : v >= c.limit;
      return { label: c.label, value: v, min: s?.min ?? null, max: s?.max ?? null, op: c.op, limit: c.limit, unit: c.unit ?? '×', met,
        why: v == null ? (c.missing?.(skipped, failed, reps) ?? whyMissing(failed, skipped, crashed)) : null };
    });
    scenarios[mod.name] = { title: mod.title, targets, ratios, checks, skipped, failed, crashed,
      notes: [...new Set(reps.flatMap((r) => r.notes ?? []))], disturbedPhases: anyDisturbed(reps) };
  }
  return { scenarios };
}

function whyMissing(failed, skipped, crashed) {
  const parts = [...crashed.map((c) => `crashed: ${c}`), ...Object.entries(failed).map(([t, e]) => `${t}: ${e}`),
    ...Object.entries(skipped).map(([t, e]) => `${t}: ${e}`)];
  return parts.length ? parts.join('; ').split('\n')[0].slice(0, 300) : 'not measured';
}

const cell = (s) => (s && s.n ? (s.n > 1 ? `${fmt(s.median)} [${fmt(s.min)}, ${fmt(s.max)}]` : fmt(s.median)) : 'n/a');

export function markdown(doc) {
  const { environment: e, summary: sum } = doc;
  const L = [];
  L.push(`# wsgate benchmark${doc.smoke ? ' (smoke: tiny sizes, numbers mean nothing)' : ''}`, '');
  L.push(`${e.date} · git ${e.gitSha?.slice(0, 10) ?? '?'}${e.gitDirty ? ' (dirty tree)' : ''} · ${e.cpuModel} × ${e.cpus} · ${e.kernel} · Node ${e.node} · ws ${e.wsVersion} · nginx ${e.nginx} · ${e.redis?.split(' ').slice(0, 3).join(' ') ?? 'redis absent'} · CPUs ${e.pinned ? 'pinned (--pin)' : 'not pinned'} · fd limit ${e.fdLimit.hard} · load avg at start ${e.loadavg.split(' ').slice(0, 3).join(' ')}`, '');
  L.push(`Repetitions: ${doc.options.reps ?? (doc.smoke ? 1 : 3)}, target order rotated per repetition. Cells: median [min, max] over repetitions; ratios are computed within a repetition. CPU is utime+stime of the process tree in between (from /proc), per message.`, '');
  L.push('## Targets from the issue', '', '| target | measured | limit | verdict |', '|---|---|---|---|');
  for (const [name, s] of Object.entries(sum.scenarios)) for (const c of s.checks) {
    const v = c.value == null ? `n/a (${c.why})` : `${fmt(c.value)}${c.unit === '×' ? '×' : ` ${c.unit}`}${c.min !== c.max ? ` [${fmt(c.min)}, ${fmt(c.max)}]` : ''}`;
    L.push(`| ${c.label} (${name}) | ${v} | ${c.op} ${fmt(c.limit)}${c.unit === '×' ? '×' : ` ${c.unit}`} | ${c.met == null ? 'not measured' : c.met ? 'met' : 'NOT met'} |`);
  }
  L.push('');
  for (const [name, s] of Object.entries(sum.scenarios)) {
    L.push(`## ${name}: ${s.title}`, '');
    const ts = Object.keys(s.targets);
    if (ts.length) {
      const keys = [...new Set(ts.flatMap((t) => Object.keys(s.targets[t])))];
      L.push(`| metric | ${ts.join(' | ')} |`, `|---|${ts.map(() => '---').join('|')}|`);
      for (const k of keys) L.push(`| ${k} | ${ts.map((t) => cell(s.targets[t][k])).join(' | ')} |`);
      L.push('');
    }
    if (Object.keys(s.ratios).length) {
      L.push('| ratio (within repetition) | median [min, max] |', '|---|---|');
      for (const [k, r] of Object.entries(s.ratios)) L.push(`| ${k} | ${cell(r)} |`);
      L.push('');
    }
    for (const [t, why] of Object.entries(s.skipped)) L.push(`- **${t} not run**: ${why}`);
    for (const [t, why] of Object.entries(s.failed)) L.push(`- **${t} FAILED**: ${String(why).split('\n')[0]}`);
    for (const c of s.crashed) L.push(`- **scenario crashed**: ${c.split('\n')[0]}`);
    for (const n of s.notes) L.push(`- ${n}`);
    if (s.disturbedPhases) L.push(`- ${s.disturbedPhases} phase(s) flagged as disturbed by other processes on the machine (kept after retries).`);
    L.push('');
  }
  return L.join('\n');
}
