/// The console's page layout, sign-in and error pages (Mustache: `{{x}}` is HTML-escaped,
/// and no template uses the unescaped forms for anything a user or a certificate supplies).
enum ConsoleTemplates {
    static var all: [String: String] {
        ["header": header, "footer": footer, "login": login, "error": error]
            .merging(certificatePages) { a, _ in a }
            .merging(jobPages) { a, _ in a }
            .merging(adminPages) { a, _ in a }
    }

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>{{title}} · CertFleet</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#refresh}}<meta http-equiv="refresh" content="{{refresh}}">{{/refresh}}
        <link rel="stylesheet" href="/console/static/console.css">
        </head>
        <body>
        <header class="top">
          <a class="brand" href="/console/certificates">CertFleet</a>
          {{#signedIn}}
          <nav>
            <a href="/console/certificates">Certificates</a>
            <a href="/console/timeline">Expiry timeline</a>
            <a href="/console/jobs">Jobs</a>
            {{#canWrite}}<a href="/console/upload">Upload</a> <a href="/console/issue">Issue</a>{{/canWrite}}
            {{#isAdmin}}<a href="/console/keys">API keys</a>{{/isAdmin}}
            {{#isSystem}}<a href="/console/projects">Projects</a>{{/isSystem}}
          </nav>
          <form class="signout" method="post" action="/console/logout">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <span class="who">{{project}} · {{scopes}}</span>
            <button type="submit">Sign out</button>
          </form>
          {{/signedIn}}
        </header>
        <main>
        {{#flash}}<p class="flash {{kind}}" id="flash">{{message}}{{#code}} <code>{{code}}</code>{{/code}}</p>{{/flash}}
        """

    static let footer = """
        </main>
        </body>
        </html>
        """

    static let login = """
        {{>header}}
        <h1>Sign in</h1>
        <p>Paste an API key (<code>cf_…</code>). It stays on the server for this session only;
        the browser keeps a session cookie, never the key.</p>
        <form method="post" action="/console/login" class="card narrow">
          <input type="hidden" name="csrf" value="{{loginCSRF}}">
          <label for="key">API key</label>
          <input type="password" id="key" name="key" autocomplete="off" required>
          <button type="submit" id="signin">Sign in</button>
        </form>
        {{>footer}}
        """

    static let error = """
        {{>header}}
        <h1>{{heading}}</h1>
        <p class="error-message" id="error-message">{{message}}</p>
        {{#code}}<p>Code: <code id="error-code">{{code}}</code> (HTTP {{status}})</p>{{/code}}
        <p><a href="/console/certificates">Back to the certificates</a></p>
        {{>footer}}
        """
}
