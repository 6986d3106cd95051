// The report's inline stylesheet and script: no fonts, images or scripts are fetched (the page's
// Content-Security-Policy forbids it), so the file works offline from file://.

export const REPORT_CSS = `
:root { --ink: #1b1f23; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; --accent: #0969da;
  --one-to-one: #d8f0d2; --many-to-one: #cfe2f7; --one-hot: #fde2c2; --pivot-fallback: #e4e4e4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #fff; }
header.top { padding: 20px 32px 8px; border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0 0 4px; font-size: 24px; }
nav.sections { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 6px 32px; z-index: 2; }
nav.sections a { margin-right: 16px; color: var(--accent); text-decoration: none; font-size: 14px; }
main { padding: 0 32px 48px; max-width: 1280px; }
section { margin-top: 28px; }
h2 { font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.muted, .note { color: var(--muted); font-size: 13px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre { background: var(--soft); padding: 8px 10px; border-radius: 6px; white-space: pre-wrap; word-break: break-word; margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.control td { background: #fff8c5; }
tr.control td:first-child { border-left: 4px solid #bf8700; }
tr.fused td { background: #eef6ff; }
td.best { font-weight: 700; }
.badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 10px; background: var(--soft); border: 1px solid var(--line); margin-left: 6px; white-space: nowrap; }
.badge.baseline { background: #fff1a8; border-color: #d4a72c; }
.verdict { padding: 10px 14px; border-radius: 6px; border: 1px solid var(--line); margin: 10px 0; font-size: 15px; }
.verdict.beat { background: #dafbe1; border-color: #4ac26b; }
.verdict.did-not-beat { background: #ffebe9; border-color: #ff8182; }
.verdict.none { background: var(--soft); }
table.results.show-loss .ppl, table.results:not(.show-loss) .loss { display: none; }
.off { color: #b35900; font-weight: 700; }
.within { color: #1a7f37; }
.unjudged { color: #6e7781; }
.reused td { color: var(--muted); }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 13px; color: var(--muted); }
td.heat { text-align: right; font-variant-numeric: tabular-nums; }
.completion { display: grid; grid-template-columns: 180px 1fr; gap: 4px 12px; align-items: start; }
.completion .model { font-weight: 600; padding-top: 6px; }
.rule-bar { display: flex; height: 18px; width: 560px; max-width: 100%; border: 1px solid var(--line); border-radius: 3px; overflow: hidden; }
.rule-bar span { display: block; height: 100%; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid #999; vertical-align: -1px; margin-right: 4px; }
.rule-one-to-one { background: var(--one-to-one); }
.rule-many-to-one { background: var(--many-to-one); }
.rule-one-hot { background: var(--one-hot); }
.rule-pivot-fallback { background: var(--pivot-fallback); }
.tokens { display: flex; flex-wrap: wrap; gap: 3px; margin: 4px 0 10px; }
.token { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; padding: 1px 4px; border-radius: 3px; border: 1px solid #bbb; cursor: pointer; white-space: pre; background: #fff; }
.pivot-tokens .token.rule-one-to-one, .detail-heading .token.rule-one-to-one, .detail-pivots .token.rule-one-to-one { background: var(--one-to-one); }
.pivot-tokens .token.rule-many-to-one, .detail-heading .token.rule-many-to-one, .detail-pivots .token.rule-many-to-one { background: var(--many-to-one); }
.pivot-tokens .token.rule-one-hot, .detail-heading .token.rule-one-hot, .detail-pivots .token.rule-one-hot { background: var(--one-hot); }
.pivot-tokens .token.rule-pivot-fallback, .detail-heading .token.rule-pivot-fallback, .detail-pivots .token.rule-pivot-fallback { background: var(--pivot-fallback); }
.pivot-tokens .token.rule-one-to-one { border-style: solid; }
.pivot-tokens .token.rule-many-to-one { border: 2px solid #4a7fc1; }
.pivot-tokens .token.rule-one-hot { border-style: dashed; border-color: #c8761e; }
.pivot-tokens .token.rule-pivot-fallback { border-style: dotted; border-color: #777; }
.token.selected { outline: 3px solid var(--accent); }
.token.linked { outline: 3px solid #cf222e; background: #ffd8d3; }
.token:focus-visible { outline: 3px solid #8250df; }
.hide-one-to-one .rule-one-to-one.token, .hide-many-to-one .rule-many-to-one.token,
.hide-one-hot .rule-one-hot.token, .hide-pivot-fallback .rule-pivot-fallback.token { opacity: 0.2; }
.alignment-detail { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: var(--soft); min-height: 48px; font-size: 14px; }
.alignment-detail table { margin: 4px 0 0; background: #fff; }
.prob-bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; margin-left: 6px; }
details > summary { cursor: pointer; }
label.rule-filter-label { margin-right: 14px; font-size: 13px; white-space: nowrap; }
`;

/**
 * The report's only script: the results table's loss/perplexity switch and the alignment
 * viewer (click or Enter on a pivot token: its aligned source tokens, rule and top entries; on a
 * source token: the pivot positions aligned to it; per-rule filters). It builds every element
 * with textContent, so no token string is ever parsed as markup.
 */
export const REPORT_SCRIPT = `
(function () {
  'use strict';
  var RULES = ['one-to-one', 'many-to-one', 'one-hot', 'pivot-fallback'];
  var RULE_TEXT = {
    'one-to-one': 'one-to-one: the only aligned source token ends like the pivot token (or the reverse); its top-k mapped to pivot ids',
    'many-to-one': 'many-to-one: several source tokens are aligned; the first that ends like the pivot token is mapped',
    'one-hot': 'fallback one-hot: no aligned source token matches; a one-hot on the gold next pivot token',
    'pivot-fallback': "pivot-fallback: nothing was mapped (last position or empty row); the pivot's own distribution"
  };
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  document.querySelectorAll('input[name="results-measure"]').forEach(function (input) {
    input.addEventListener('change', function () {
      document.querySelectorAll('table.results').forEach(function (table) {
        table.classList.toggle('show-loss', input.value === 'loss' && input.checked);
      });
    });
  });
  document.querySelectorAll('.alignment-sample').forEach(function (sample) {
    var data = JSON.parse(sample.querySelector('script.alignment-data').textContent);
    var pivotTokens = sample.querySelectorAll('.pivot-tokens .token');
    var sourceTokens = sample.querySelectorAll('.source-tokens .token');
    var panel = sample.querySelector('.alignment-detail');
    function clear() {
      sample.querySelectorAll('.token.selected, .token.linked').forEach(function (node) {
        node.classList.remove('selected', 'linked');
      });
      panel.textContent = '';
    }
    function tokenText(node) { return node ? node.textContent : '?'; }
    function showPivot(i) {
      var position = data.positions[i];
      if (!position) return;
      clear();
      pivotTokens[i].classList.add('selected');
      var rule = RULES[position[1]];
      var heading = element('div', 'detail-heading');
      heading.appendChild(element('strong', '', 'pivot position ' + i + ': '));
      heading.appendChild(element('span', 'token rule-' + rule, tokenText(pivotTokens[i])));
      panel.appendChild(heading);
      panel.appendChild(element('div', 'detail-rule', 'rule: ' + RULE_TEXT[rule]));
      var aligned = element('div', 'detail-source', 'aligned source positions: ');
      if (position[0].length === 0) aligned.appendChild(element('span', 'muted', 'none'));
      position[0].forEach(function (j) {
        if (sourceTokens[j]) sourceTokens[j].classList.add('linked');
        aligned.appendChild(element('span', 'token', j + ' ' + tokenText(sourceTokens[j])));
        aligned.appendChild(document.createTextNode(' '));
      });
      panel.appendChild(aligned);
      var table = element('table', 'top-entries');
      var head = element('tr');
      head.appendChild(element('th', '', 'aligned entry (pivot token)'));
      head.appendChild(element('th', 'number', 'probability'));
      table.appendChild(head);
      position[2].forEach(function (entry) {
        var row = element('tr');
        row.appendChild(element('td', 'mono', entry[0]));
        var cell = element('td', 'number', (entry[1] * 100).toFixed(1) + '%');
        var bar = element('span', 'prob-bar');
        bar.style.width = Math.round(entry[1] * 80) + 'px';
        cell.appendChild(bar);
        row.appendChild(cell);
        table.appendChild(row);
      });
      if (position[2].length === 0) panel.appendChild(element('div', 'muted', 'no entries'));
      else panel.appendChild(table);
    }
    function showSource(j) {
      clear();
      if (!sourceTokens[j]) return;
      sourceTokens[j].classList.add('selected');
      var heading = element('div', 'detail-heading');
      heading.appendChild(element('strong', '', 'source position ' + j + ': '));
      heading.appendChild(element('span', 'token', tokenText(sourceTokens[j])));
      panel.appendChild(heading);
      var list = element('div', 'detail-pivots', 'aligned to pivot positions: ');
      data.positions.forEach(function (position, i) {
        if (position[0].indexOf(j) < 0) return;
        pivotTokens[i].classList.add('linked');
        list.appendChild(element('span', 'token rule-' + RULES[position[1]], i + ' ' + tokenText(pivotTokens[i])));
        list.appendChild(document.createTextNode(' '));
      });
      panel.appendChild(list);
    }
    function activate(target) {
      var token = target.closest('.token');
      if (!token || !sample.contains(token) || panel.contains(token)) return;
      if (token.hasAttribute('data-i')) showPivot(Number(token.getAttribute('data-i')));
      else if (token.hasAttribute('data-j')) showSource(Number(token.getAttribute('data-j')));
    }
    sample.addEventListener('click', function (event) { activate(event.target); });
    sample.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') {
        if (event.target.closest && event.target.closest('.token')) { event.preventDefault(); activate(event.target); }
      }
    });
    sample.querySelectorAll('input.rule-filter').forEach(function (input) {
      input.addEventListener('change', function () {
        sample.classList.toggle('hide-' + input.value, !input.checked);
      });
    });
  });
})();
`;
