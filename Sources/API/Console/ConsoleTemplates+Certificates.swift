extension ConsoleTemplates {
    static var certificatePages: [String: String] { ["certificates": certificates, "certificate": certificate, "timeline": timeline] }

    static let certificates = """
        {{>header}}
        <h1>Certificates</h1>
        <form method="get" action="/console/certificates" class="filters" id="filters">
          <input type="search" name="q" id="q" value="{{q}}" placeholder="name, common name or host (wildcards match)">
          <select name="state" id="state"><option value="">any state</option>
            {{#states}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/states}}</select>
          <select name="source" id="source"><option value="">any source</option>
            {{#sources}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/sources}}</select>
          <select name="ca" id="ca"><option value="">any CA</option>
            {{#cas}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/cas}}</select>
          <label>expires before <input type="date" name="expires_before" id="expires_before" value="{{expiresBefore}}"></label>
          <select name="sort" id="sort">
            {{#sorts}}<option value="{{value}}"{{#selected}} selected{{/selected}}>sort by {{value}}</option>{{/sorts}}</select>
          <button type="submit" id="search">Search</button>
        </form>
        <table class="certificates" id="certificates">
          <thead><tr><th>Name</th><th>Common name</th><th>State</th><th>Source</th><th>CA</th><th>Expires</th><th>Days left</th></tr></thead>
          <tbody>
          {{#rows}}
          <tr>
            <td><a href="{{href}}" class="certificate-link">{{name}}</a></td>
            <td>{{commonName}}{{#moreNames}} <span class="muted">+{{moreNames}}</span>{{/moreNames}}</td>
            <td><span class="badge state-{{state}}">{{state}}</span>{{#errorCode}} <code>{{errorCode}}</code>{{/errorCode}}</td>
            <td>{{source}}</td>
            <td>{{ca}}</td>
            <td>{{expires}}</td>
            <td class="{{daysClass}}">{{daysLeft}}</td>
          </tr>
          {{/rows}}
          {{^rows}}<tr><td colspan="7" class="muted" id="no-rows">No certificates match.</td></tr>{{/rows}}
          </tbody>
        </table>
        <p class="paging">{{#first}}<a href="{{first}}" id="first-page">First page</a>{{/first}}
          {{#next}}<a href="{{next}}" id="next-page">Next page →</a>{{/next}}
          <span class="muted">{{count}} shown{{#elapsed}} · {{elapsed}} ms{{/elapsed}}</span></p>
        {{>footer}}
        """

    static let certificate = """
        {{>header}}
        <h1>{{name}} <span class="badge state-{{state}}" id="state-badge">{{state}}</span></h1>
        {{#error}}<p class="flash error">Last error: <code>{{code}}</code> {{message}}</p>{{/error}}
        <section class="grid">
        <div class="card">
          <h2>Certificate</h2>
          <dl>
            <dt>Subject</dt><dd id="subject">{{subject}}</dd>
            <dt>Names</dt><dd id="sans">{{#sans}}<span class="san">{{.}}</span> {{/sans}}</dd>
            <dt>Issuer</dt><dd>{{issuer}}</dd>
            <dt>Key</dt><dd>{{key}}</dd>
            <dt>Serial</dt><dd><code>{{serial}}</code></dd>
            <dt>Valid</dt><dd>{{notBefore}} → {{notAfter}} ({{daysLeft}} days left)</dd>
            <dt>Renews at</dt><dd>{{renewAt}}</dd>
            <dt>Source</dt><dd>{{source}}{{#ca}} · CA account <code>{{ca}}</code> {{caURL}}{{/ca}}</dd>
            <dt>Usage</dt><dd>{{usage}} · {{tlsType}}</dd>
            <dt>Version</dt><dd>{{version}}</dd>
            {{#ari}}<dt>ARI window</dt><dd>{{start}} → {{end}}</dd>{{/ari}}
            <dt>Bound to</dt><dd id="bindings">{{#bindings}}<span class="san">{{.}}</span> {{/bindings}}{{^bindings}}nothing{{/bindings}}</dd>
          </dl>
        </div>
        <div class="card">
          <h2>Actions</h2>
          <p>Download:
            {{#downloads}}<a href="{{href}}" class="download" id="download-{{type}}">{{type}}</a> {{/downloads}}</p>
          {{#canWrite}}
          {{#isACME}}
          <form method="post" action="{{base}}/renew" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" id="renew">Renew</button></form>
          <form method="post" action="{{base}}/revoke" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
            <select name="reason" id="revoke-reason">{{#reasons}}<option value="{{.}}">{{.}}</option>{{/reasons}}</select>
            <button type="submit" id="revoke">Revoke</button></form>
          {{/isACME}}
          <form method="post" action="{{base}}/delete" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" id="delete" class="danger">Delete</button></form>
          {{/canWrite}}
          {{^canWrite}}<p class="muted" id="read-only">This key can only read.</p>{{/canWrite}}
        </div>
        </section>
        <h2>Chain</h2>
        <table><thead><tr><th>#</th><th>Subject</th><th>Issuer</th><th>Valid until</th></tr></thead><tbody>
        {{#chain}}<tr><td>{{index}}</td><td>{{subject}}</td><td>{{issuer}}</td><td>{{until}}</td></tr>{{/chain}}
        </tbody></table>
        <h2>Versions</h2>
        <table id="versions"><thead><tr><th>Version</th><th>State</th><th>Serial</th><th>Valid</th><th>Created</th></tr></thead><tbody>
        {{#versions}}<tr><td>{{version}}{{#current}} (current){{/current}}</td><td>{{state}}</td><td><code>{{serial}}</code></td>
          <td>{{notBefore}} → {{notAfter}}</td><td>{{created}}</td></tr>{{/versions}}
        </tbody></table>
        {{#hasLint}}<h2>Lint findings</h2><ul>{{#lint}}<li>{{.}}</li>{{/lint}}</ul>{{/hasLint}}
        {{#hasChallenges}}
        <h2>dns-01 records to create</h2>
        <table><thead><tr><th>Domain</th><th>Record</th><th>Type</th><th>Content</th><th>Status</th></tr></thead><tbody>
        {{#challenges}}<tr><td>{{domain}}</td><td><code>{{name}}</code></td><td>TXT</td><td><code>{{value}}</code></td>
          <td>{{status}}</td></tr>{{/challenges}}
        </tbody></table>
        {{/hasChallenges}}
        <h2>Jobs</h2>
        <table id="jobs"><thead><tr><th>Job</th><th>Kind</th><th>State</th><th>Attempt</th><th>Error</th><th>Created</th></tr></thead><tbody>
        {{#jobs}}<tr><td><a href="{{href}}">{{short}}</a></td><td>{{kind}}</td><td><span class="badge job-{{state}}">{{state}}</span></td>
          <td>{{attempt}}</td><td>{{#errorCode}}<code>{{errorCode}}</code> {{errorDetail}}{{/errorCode}}</td><td>{{created}}</td></tr>{{/jobs}}
        </tbody></table>
        <h2>Events</h2>
        <table id="events"><thead><tr><th>When</th><th>Event</th><th>From → to</th><th>Reason</th><th>By</th></tr></thead><tbody>
        {{#events}}<tr><td>{{created}}</td><td>{{type}}</td><td>{{from}} → {{to}}</td><td>{{reason}}</td><td>{{actor}}</td></tr>{{/events}}
        </tbody></table>
        {{>footer}}
        """

    static let timeline = """
        {{>header}}
        <h1>Expiry timeline</h1>
        <p>Certificates by expiry (<code>not_after</code>) and planned renewal (<code>renew_at</code>), per day over the next 90 days.</p>
        <div class="card chart" id="timeline-chart">{{{svg}}}</div>
        <section class="grid">
        <div class="card"><h2>Overdue</h2><p class="big" id="overdue">{{overdue}}</p>
          <p class="muted">renewal due and not yet renewed</p></div>
        <div class="card"><h2>Failing</h2><p class="big" id="failing">{{failing}}</p><p class="muted">in state error</p></div>
        <div class="card"><h2>Deferred by the budget</h2><p class="big" id="deferred">{{deferred}}</p>
          <p class="muted">waiting for the CA's rate-limit window</p></div>
        </section>
        {{>footer}}
        """
}
