extension ConsoleTemplates {
    static var jobPages: [String: String] { ["upload": upload, "issue": issue, "job": job, "jobs": jobs] }

    static let upload = """
        {{>header}}
        <h1>Upload a certificate</h1>
        <form method="post" action="/console/upload" enctype="multipart/form-data" class="card" id="upload-form">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="name">Name (optional: generated from the common name)</label>
          <input type="text" id="name" name="name" value="{{name}}">
          <label for="chain">Certificate chain (PEM, leaf first): paste, or choose a file</label>
          <textarea id="chain" name="chain" rows="8"></textarea>
          <input type="file" id="chain_file" name="chain_file" accept=".pem,.crt,.cer">
          <label for="pkey">Private key (PEM): paste, or choose a file</label>
          <textarea id="pkey" name="pkey" rows="5"></textarea>
          <input type="file" id="pkey_file" name="pkey_file" accept=".pem,.key">
          <label for="client_ca">Client CA for two-way TLS (optional, PEM)</label>
          <textarea id="client_ca" name="client_ca" rows="3"></textarea>
          <input type="file" id="client_ca_file" name="client_ca_file" accept=".pem,.crt,.cer">
          <label for="usage">Usage</label>
          <select id="usage" name="usage"><option value="server">server</option><option value="client">client</option></select>
          <button type="submit" id="upload">Upload</button>
        </form>
        {{>footer}}
        """

    static let issue = """
        {{>header}}
        <h1>Issue through ACME</h1>
        <form method="post" action="/console/issue" class="card" id="issue-form">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="domains">Domains (one per line or comma-separated; the first is the common name)</label>
          <textarea id="domains" name="domains" rows="3">{{domains}}</textarea>
          <label for="name">Name (optional)</label>
          <input type="text" id="name" name="name" value="{{name}}">
          <label for="key_type">Key type</label>
          <select id="key_type" name="key_type">{{#keyTypes}}<option value="{{.}}">{{.}}</option>{{/keyTypes}}</select>
          <label for="challenge">Challenge</label>
          <select id="challenge" name="challenge"><option value="">the server's default</option>
            {{#challenges}}<option value="{{.}}">{{.}}</option>{{/challenges}}</select>
          <label for="acme_account">ACME account (optional)</label>
          <select id="acme_account" name="acme_account"><option value="">default</option>
            {{#accounts}}<option value="{{.}}">{{.}}</option>{{/accounts}}</select>
          <label for="profile">Profile (optional, when the CA offers profiles)</label>
          <input type="text" id="profile" name="profile">
          <button type="submit" id="issue">Issue</button>
        </form>
        {{>footer}}
        """

    static let job = """
        {{>header}}
        <h1>Job {{short}}</h1>
        <p id="job-summary">{{kind}} job for <a href="{{certificateHref}}" id="certificate-link">{{certificateName}}</a>:
          <span class="badge job-{{state}}" id="job-state">{{state}}</span>
          · certificate <span class="badge state-{{certificateState}}" id="certificate-state">{{certificateState}}</span></p>
        {{#live}}<p class="muted" id="live">In progress: this page refreshes every second until the job ends.</p>{{/live}}
        <dl class="card">
          <dt>Attempt</dt><dd>{{attempt}} of {{maxAttempts}}</dd>
          <dt>Created</dt><dd>{{created}}</dd>
          <dt>Started</dt><dd>{{started}}</dd>
          <dt>Finished</dt><dd>{{finished}}</dd>
          {{#errorCode}}<dt>Error</dt><dd id="job-error"><code>{{errorCode}}</code> {{errorDetail}}</dd>{{/errorCode}}
        </dl>
        <h2>Events</h2>
        <table id="events"><thead><tr><th>When</th><th>Event</th><th>From → to</th><th>Reason</th></tr></thead><tbody>
        {{#events}}<tr><td>{{created}}</td><td>{{type}}</td><td>{{from}} → {{to}}</td><td>{{reason}}</td></tr>{{/events}}
        </tbody></table>
        {{>footer}}
        """

    static let jobs = """
        {{>header}}
        <h1>Jobs</h1>
        {{#deadLetters}}<p>Dead-lettered job messages (unparseable, installation-wide):
          <strong id="dead-letters">{{deadLetters}}</strong></p>{{/deadLetters}}
        <h2>Last 7 days by state and kind</h2>
        <table id="job-counts"><thead><tr><th>State</th><th>Kind</th><th>Jobs</th></tr></thead><tbody>
        {{#counts}}<tr><td><a href="{{href}}"><span class="badge job-{{state}}">{{state}}</span></a></td><td>{{kind}}</td>
          <td>{{count}}</td></tr>{{/counts}}
        </tbody></table>
        <h2>{{listTitle}}</h2>
        <table id="recent-jobs"><thead><tr><th>Job</th><th>Certificate</th><th>Kind</th><th>State</th><th>Attempt</th><th>Error</th>
          <th>Created</th></tr></thead><tbody>
        {{#rows}}<tr><td><a href="{{href}}">{{short}}</a></td><td><a href="{{certificateHref}}">{{certificateName}}</a></td><td>{{kind}}</td>
          <td><span class="badge job-{{state}}">{{state}}</span></td><td>{{attempt}}</td>
          <td>{{#errorCode}}<code>{{errorCode}}</code> {{errorDetail}}{{/errorCode}}</td><td>{{created}}</td></tr>{{/rows}}
        </tbody></table>
        {{>footer}}
        """
}
