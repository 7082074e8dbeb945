/// The console's one stylesheet, served from /console/static/console.css (the CSP allows
/// styles from 'self' only, so there is no inline style anywhere).
enum ConsoleStyle {
    static let css = """
        :root { --fg: #1d2330; --muted: #6b7385; --line: #dde1ea; --accent: #2a5bd7; --bg: #f6f7fb; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header.top { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
        header.top a { color: #fff; text-decoration: none; margin-right: 1rem; }
        .brand { font-weight: 700; font-size: 1.1rem; }
        .signout { margin-left: auto; display: flex; gap: .6rem; align-items: center; }
        .who { color: #b8c0d4; font-size: .85rem; }
        main { padding: 1rem 1.5rem; max-width: 1300px; }
        h1 { font-size: 1.4rem; margin: .4rem 0 1rem; } h2 { font-size: 1.1rem; margin-top: 1.4rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef0f6; font-weight: 600; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; margin-bottom: 1rem; }
        .narrow { max-width: 460px; }
        .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; }
        form.card label { display: block; margin-top: .6rem; font-weight: 600; }
        form.card input[type=text], form.card input[type=password], form.card textarea, form.card select { width: 100%; padding: .35rem; }
        textarea { font-family: ui-monospace, monospace; font-size: 12px; }
        button { margin-top: .6rem; padding: .35rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #fff;
                 border-radius: 4px; cursor: pointer; }
        button.danger { background: #b3261e; border-color: #b3261e; }
        .signout button { margin: 0; background: transparent; border-color: #8d96ab; }
        form.inline { display: inline-block; margin-right: .6rem; }
        .filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: 1rem; }
        .filters input[type=search] { min-width: 280px; padding: .35rem; }
        .filters button { margin: 0; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
        dt { color: var(--muted); } dd { margin: 0; word-break: break-all; }
        .badge { display: inline-block; padding: 0 .5rem; border-radius: 9px; font-size: .8rem; background: #e3e6ee; }
        .state-valid, .job-succeeded { background: #d4f3dc; color: #12652b; }
        .state-pending, .state-renewing, .job-queued, .job-running { background: #fff1c2; color: #7a5a00; }
        .state-error, .state-expired, .state-revoked, .job-failed { background: #fbd9d6; color: #8c1d18; }
        .state-deleting, .job-cancelled { background: #e3e6ee; color: #4a5163; }
        .flash { padding: .5rem .8rem; border-radius: 4px; background: #e5edff; }
        .flash.error { background: #fbd9d6; color: #8c1d18; }
        .muted { color: var(--muted); }
        .soon { color: #b3261e; font-weight: 600; } .warn { color: #9a6700; }
        .san { display: inline-block; background: #eef0f6; border-radius: 3px; padding: 0 .3rem; margin: 0 .2rem .2rem 0; }
        .paging a { margin-right: 1rem; }
        .big { font-size: 2rem; margin: .2rem 0; font-weight: 700; }
        fieldset { border: 1px solid var(--line); margin-top: .6rem; } fieldset label { display: block; font-weight: 400; }
        .secret { border-color: #2a5bd7; background: #eef3ff; } .secret code { font-size: 1rem; word-break: break-all; }
        .chart svg { width: 100%; height: auto; }
        .chart .expiry { fill: #d9534f; } .chart .renewal { fill: #2a5bd7; } .chart text { font-size: 10px; fill: #6b7385; }
        """
}
