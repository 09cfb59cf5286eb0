/** The console's one style sheet (served as /console/assets/console.css; the CSP allows no inline style). */
export const STYLES = `
:root { --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --line: #d0d7de; --ok: #116329; --bad: #a40e26; --warn: #7d4e00; --accent: #0b5cad; --panel: #f6f8fa;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
body { margin: 0; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5em; }
.skip:focus { left: .5em; }
header.top { display: flex; justify-content: space-between; align-items: center; gap: 1em; padding: .6em 1.2em; border-bottom: 1px solid var(--line); }
.brand { margin: 0; font-weight: 600; }
.who { display: flex; gap: .8em; align-items: center; }
nav ul { display: flex; flex-wrap: wrap; gap: .2em 1.2em; list-style: none; margin: 0; padding: .5em 1.2em; border-bottom: 1px solid var(--line); background: var(--panel); }
nav a { color: var(--accent); text-decoration: none; padding: .2em 0; }
nav a[aria-current="page"] { font-weight: 700; border-bottom: 2px solid var(--accent); }
main { padding: 1em 1.2em 3em; max-width: 72em; }
main:focus { outline: none; }
h1 { font-size: 1.5em; margin: .3em 0 .6em; }
h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.muted { color: var(--muted); }
.ok { color: var(--ok); }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
.notice { border-left: 4px solid var(--bad); background: #fff5f5; padding: .5em .8em; }
.info { border-left: 4px solid var(--accent); background: #f1f7ff; padding: .5em .8em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(15em, 1fr)); gap: .8em; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .7em .9em; background: var(--bg); }
.card h2, .card h3 { margin-top: 0; font-size: 1em; }
.big { font-size: 1.7em; font-weight: 600; font-variant-numeric: tabular-nums; }
form.inline { display: flex; flex-wrap: wrap; gap: .5em .8em; align-items: end; margin: .5em 0 1em; }
form.inline .field { display: flex; flex-direction: column; font-size: .9em; gap: .2em; }
.sign-in { max-width: 30em; margin: 2em auto; }
.sign-in form label { display: block; margin-top: .7em; }
.sign-in input { width: 100%; box-sizing: border-box; }
input, select, button { font: inherit; padding: .35em .5em; border: 1px solid #8c959f; border-radius: 4px; }
button, a.button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; text-decoration: none; display: inline-block; padding: .35em .8em; border-radius: 4px; }
button.secondary { background: var(--bg); color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .55; cursor: not-allowed; }
.sign-in button { margin-top: 1em; }
svg.chart { width: 100%; max-width: 48em; height: 10em; border: 1px solid var(--line); background: var(--panel); }
svg.chart .x2t { fill: #0b5cad; }
svg.chart .t2x { fill: #bf5700; }
.legend { display: flex; gap: 1.2em; font-size: .9em; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: -.05em; }
.swatch.x2t { background: #0b5cad; }
.swatch.t2x { background: #bf5700; }
.status { font-weight: 600; }
details { margin: .2em 0; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
`;
