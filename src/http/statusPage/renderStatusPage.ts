import { createHash } from 'node:crypto';
import { isFailing, KEY_STATES, shownState } from '../../domain/keyState.js';
import { METRIC } from '../../metrics/createMetrics.js';
import { statusQueryString } from './statusQuery.js';
import type { StatusCounterValue, StatusKeyRow, StatusPaging, StatusSnapshot } from './statusSnapshot.js';

/**
 * The status page: one self-contained HTML document, no build step and no external assets.
 * Everything is rendered here, on the server, with every value escaped (keys, connection ids and
 * errors come from webhooks and from Nango: hostile until proven otherwise). The inline script
 * only re-fetches this same page and swaps `#content`, so there is one renderer.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in element text and in double- or single-quoted attribute values. */
export function escapeHtml(value: unknown): string {
    return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --muted: #667085; --line: #e3e6eb;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --info: #0969da; --gone: #6e7781; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1216; --card: #171b21; --fg: #e6e8eb; --muted: #98a1ad; --line: #2a3039;
  --ok: #3fb950; --warn: #d29922; --bad: #f85149; --info: #58a6ff; --gone: #8b949e; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main, footer { max-width: 1280px; margin: 0 auto; padding: 0 20px; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; padding-top: 18px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 22px 0 8px; }
.muted { color: var(--muted); }
.warn { color: var(--bad); font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; margin-top: 14px; }
.tile, .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.tile .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .sub { color: var(--muted); font-size: 12px; }
.tile.bad .value { color: var(--bad); }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.key { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; word-break: break-all; }
td.err { max-width: 460px; word-break: break-word; }
td.err .code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--bad); margin-right: 6px; }
td.err .nango { color: var(--muted); font-size: 12px; margin-top: 2px; }
tr.failing td.key { box-shadow: inset 3px 0 0 var(--bad); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.st-ok { color: var(--ok); } .st-failed { color: var(--bad); } .st-running, .st-pending { color: var(--info); }
.st-gone { color: var(--gone); } .st-other { color: var(--warn); }
.counters { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; align-items: start; }
.card h3 { font-size: 13px; margin: 0 0 6px; }
.card code { font-size: 11px; color: var(--muted); word-break: break-all; }
.card table { border: 0; margin-top: 6px; }
.card td { padding: 3px 0; border: 0; }
.empty { padding: 18px; text-align: center; color: var(--muted); background: var(--card); border: 1px dashed var(--line); border-radius: 8px; }
.pager { display: flex; gap: 14px; align-items: baseline; flex-wrap: wrap; margin: 0 0 8px; }
.pager a { color: var(--info); }
.pager + table { margin-bottom: 8px; }
footer { padding: 24px 20px 30px; color: var(--muted); font-size: 12px; }
footer a { color: inherit; }
`;

const SCRIPT = `
(() => {
  const seconds = Number(document.body.dataset.refresh) || 5;
  const banner = document.getElementById('refresh-error');
  async function refresh() {
    try {
      if (document.hidden) return;
      const res = await fetch(location.href, { cache: 'no-store', headers: { accept: 'text/html' } });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const next = new DOMParser().parseFromString(await res.text(), 'text/html').getElementById('content');
      if (!next) throw new Error('not a status page');
      document.getElementById('content').replaceWith(document.adoptNode(next));
      banner.hidden = true;
    } catch (err) {
      banner.textContent = 'Refresh failed (' + (err && err.message) + '): the data below is older.';
      banner.hidden = false;
    } finally {
      setTimeout(refresh, seconds * 1000);
    }
  }
  setTimeout(refresh, seconds * 1000);
})();
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only this page's own style and script run; inline handlers (`onerror=…`) never do, even if escaping failed. */
export const STATUS_PAGE_CSP = [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
].join('; ');

// Made on first render, not when the daemon starts: the first Intl object maps ICU's locale data,
// about 8 MB of the process's RSS, and most daemons never render this page.
let formats: { integer: Intl.NumberFormat; decimal: Intl.NumberFormat } | undefined;

function numberFormats() {
    return (formats ??= {
        integer: new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }),
        decimal: new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 }),
    });
}

function formatNumber(n: number): string {
    const { integer, decimal } = numberFormats();
    return Number.isInteger(n) ? integer.format(n) : decimal.format(n);
}

export function formatDuration(seconds: number): string {
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return `${s} s`;
    if (s < 90 * 60) return `${Math.round(s / 60)} min`;
    if (s < 48 * 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86_400)} d ${Math.round((s % 86_400) / 3600)} h`;
}

const KNOWN_STATUSES = new Set<string>(KEY_STATES);

function statusBadge(row: StatusKeyRow): string {
    const shown = shownState(row.status, row.pending);
    const cls = KNOWN_STATUSES.has(shown) ? shown : 'other';
    return `<span class="badge st-${cls}">${escapeHtml(shown)}</span>`;
}

/** Nango's own view of the key's sync at the last reconcile pass, beside the mirror's. */
function nangoStatus(row: StatusKeyRow): string {
    if (row.nangoSyncStatus === null) return '';
    const title = `Nango's sync status at the last reconcile pass${row.nangoFinishedAt === null ? '' : `; its latest run finished ${row.nangoFinishedAt}`}`;
    return ` <span class="${row.nangoSyncStatus === 'ERROR' ? 'warn' : 'muted'}" title="${escapeHtml(title)}">Nango ${escapeHtml(row.nangoSyncStatus)}</span>`;
}

function keyRow(row: StatusKeyRow): string {
    const failing = isFailing(row);
    const lag = row.lagSeconds === null ? '<span class="muted">never</span>' : escapeHtml(formatDuration(row.lagSeconds));
    const lagTitle = row.lastSuccessAt === null ? 'no successful pull yet' : `last success ${row.lastSuccessAt}`;
    const error = row.lastError === null && row.lastErrorCode === null ? '' : `${row.lastErrorCode === null ? '' : `<span class="code">${escapeHtml(row.lastErrorCode)}</span>`}${escapeHtml(clip(row.lastError ?? '', 300))}`;
    const nango = row.nangoSyncError === null ? '' : `<div class="nango">Nango sync error: ${escapeHtml(clip(row.nangoSyncError, 200))}</div>`;
    const errorTitle = [row.lastError, row.nangoSyncError].filter((e) => e !== null).join('\n');
    return `<tr class="${failing ? 'failing' : ''}">
<td class="key" title="${escapeHtml(`${row.providerConfigKey} / ${row.connectionId} / ${row.model} / ${row.variant}`)}">${escapeHtml(row.key)}</td>
<td>${statusBadge(row)}${nangoStatus(row)}</td>
<td class="num" title="${escapeHtml(lagTitle)}">${lag}</td>
<td class="num" title="${escapeHtml(`${row.liveRows} live, ${row.deletedRows} deleted${row.nangoRecordCount === null ? '' : `; Nango counts ${row.nangoRecordCount}`}`)}">${escapeHtml(formatNumber(row.liveRows))}${row.deletedRows > 0 ? ` <span class="muted">+${escapeHtml(formatNumber(row.deletedRows))} del</span>` : ''}</td>
<td class="err"${errorTitle ? ` title="${escapeHtml(clip(errorTitle, 2000))}"` : ''}>${error}${nango}</td>
<td class="num">${escapeHtml(formatNumber(row.consecutiveFailures))}</td>
</tr>`;
}

function clip(text: string, max: number): string {
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function sum(values: StatusCounterValue[] | undefined, where: (labels: Record<string, string>) => boolean = () => true): number {
    return (values ?? []).filter((v) => where(v.labels)).reduce((n, v) => n + v.value, 0);
}

function tile(label: string, value: string, sub = '', bad = false): string {
    return `<div class="tile${bad ? ' bad' : ''}"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div><div class="sub">${escapeHtml(sub)}</div></div>`;
}

const COUNTER_CARDS: Array<{ name: string; title: string; unit?: string }> = [
    { name: METRIC.webhooks, title: 'Webhooks' },
    { name: METRIC.recordsWritten, title: 'Records written' },
    { name: METRIC.pulls, title: 'Pulls' },
    { name: METRIC.nangoRequests, title: 'Nango API answers' },
    { name: METRIC.rateLimitedSeconds, title: 'Waiting on 429s', unit: ' s' },
    { name: METRIC.reconcileFound, title: 'Found by reconcile (no webhook)' },
];

function counterCard(title: string, name: string, values: StatusCounterValue[], unit = ''): string {
    const rows = [...values]
        .sort((a, b) => b.value - a.value)
        .map((v) => {
            const label = Object.values(v.labels).join(' · ') || 'total';
            return `<tr><td>${escapeHtml(label)}</td><td class="num">${escapeHtml(formatNumber(v.value) + unit)}</td></tr>`;
        })
        .join('');
    return `<div class="card" data-metric="${escapeHtml(name)}"><h3>${escapeHtml(title)}</h3><code>${escapeHtml(name)}</code><table>${rows || '<tr><td class="muted">none yet</td></tr>'}</table></div>`;
}

export interface RenderOptions {
    refreshSeconds: number;
    /** The URL asked for `refresh`: the page links keep it. */
    keepRefresh?: boolean;
}

/** "Keys 101–200 of 20,000 · page 2 of 200", with links to the pages before and after (the same filter and refresh). */
function pager(paging: StatusPaging, options: RenderOptions): string {
    const extra: Record<string, string> = options.keepRefresh ? { refresh: String(options.refreshSeconds) } : {};
    const link = (page: number, rel: 'prev' | 'next', text: string) =>
        `<a rel="${rel}" href="/${escapeHtml(statusQueryString(page, paging.perPage, paging.filter, extra))}">${text}</a>`;
    const shown = paging.first === 0 ? `No keys on page ${formatNumber(paging.page)}` : `Keys ${formatNumber(paging.first)}–${formatNumber(paging.last)}`;
    return `<nav class="pager" aria-label="Pages of keys">${paging.page > 1 ? link(paging.page - 1, 'prev', '← Previous') : ''}<span>${escapeHtml(
        `${shown} of ${formatNumber(paging.total)} · page ${formatNumber(paging.page)} of ${formatNumber(paging.pages)}`,
    )}</span>${paging.page < paging.pages ? link(paging.page + 1, 'next', 'Next →') : ''}</nav>`;
}

/** Which keys the page is narrowed to, and a link to all of them; empty without a filter. */
function filterNote(paging: StatusPaging, options: RenderOptions): string {
    const entries = Object.entries(paging.filter);
    if (entries.length === 0) return '';
    const all = statusQueryString(1, paging.perPage, {}, options.keepRefresh ? { refresh: String(options.refreshSeconds) } : {});
    const what = entries.map(([name, value]) => `${escapeHtml(name)} <code>${escapeHtml(value)}</code>`).join(', ');
    return `<p class="muted" id="filter">Only keys with ${what}. <a href="/${escapeHtml(all)}">All keys</a></p>`;
}

export function renderStatusPage(snap: StatusSnapshot, options: RenderOptions): string {
    const c = snap.counters;
    const byStatus = Object.entries(snap.statusCounts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([status, n]) => `${n} ${status}`)
        .join(' · ');
    const failedKeys = snap.statusCounts['failed'] ?? 0;
    const written = sum(c[METRIC.recordsWritten], (l) => l['action'] === 'upserted');
    const deleted = sum(c[METRIC.recordsWritten], (l) => l['action'] === 'deleted');
    const webhooks = sum(c[METRIC.webhooks]);
    const rejected = sum(c[METRIC.webhooks], (l) => !['accepted', 'ignored'].includes(l['outcome'] ?? ''));
    const pullsOk = sum(c[METRIC.pulls], (l) => l['outcome'] === 'ok');
    const pullsFailed = sum(c[METRIC.pulls], (l) => l['outcome'] === 'failed');
    const mean = snap.pullDuration && snap.pullDuration.count > 0 ? snap.pullDuration.sumSeconds / snap.pullDuration.count : null;

    const tiles = [
        tile('Keys', formatNumber(snap.keyCount), byStatus || 'none yet', failedKeys > 0),
        tile('Pending keys', formatNumber(snap.pendingKeys), 'a request no pull covers yet'),
        tile('Oldest success', formatDuration(snap.oldestSuccessAgeSeconds), 'since the least recent key last succeeded'),
        tile('Records written', formatNumber(written), `${formatNumber(deleted)} deleted`),
        tile('Webhooks', formatNumber(webhooks), `${formatNumber(rejected)} rejected`, rejected > 0),
        tile('Pulls', formatNumber(pullsOk + pullsFailed), `${formatNumber(pullsFailed)} failed${mean === null ? '' : ` · mean ${numberFormats().decimal.format(mean)} s`}`, pullsFailed > 0),
    ].join('\n');

    const paging = snap.paging;
    const empty =
        paging.total > 0
            ? ''
            : Object.keys(paging.filter).length > 0
              ? '<div class="empty">No key matches this filter.</div>'
              : '<div class="empty">No keys yet: no webhook has named one (and discovery is off or found nothing).</div>';
    const table =
        empty ||
        `${pager(paging, options)}
<table id="keys">
<thead><tr><th>Key</th><th>Status</th><th class="num">Lag</th><th class="num">Rows</th><th>Last error</th><th class="num">Failures</th></tr></thead>
<tbody>
${snap.keys.map(keyRow).join('\n')}
</tbody>
</table>${paging.pages > 1 ? pager(paging, options) : ''}`;

    const cards = COUNTER_CARDS.filter((card) => c[card.name] !== undefined)
        .map((card) => counterCard(card.title, card.name, c[card.name]!, card.unit))
        .join('\n');

    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nango-mirror status</title>
<link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="${escapeHtml(options.refreshSeconds)}"></noscript>
<style>${STYLE}</style>
</head>
<body data-refresh="${escapeHtml(options.refreshSeconds)}">
<header><h1>nango-mirror</h1><span id="refresh-error" class="warn" role="status" hidden></span></header>
<main id="content">
<p class="muted">Updated <time datetime="${escapeHtml(snap.generatedAt)}">${escapeHtml(snap.generatedAt.replace('T', ' ').slice(0, 19))} UTC</time>; refreshes every ${escapeHtml(options.refreshSeconds)} s.</p>
<section class="tiles">
${tiles}
</section>
<h2>Keys <span class="muted">failing first, then the longest since a success; gone keys last</span></h2>
${filterNote(paging, options)}${table}
<h2>Counters <span class="muted">since this daemon started</span></h2>
<section class="counters">
${cards}
</section>
</main>
<footer>Read-only. The same data for machines: <a href="/status.json">/status.json</a> · <a href="/metrics">/metrics</a></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
