extension ConsoleTemplates {
    static var adminPages: [String: String] { ["keys": keys, "projects": projects] }

    static let secretShownOnce = """
        {{#created}}
        <div class="card secret" id="created-key">
          <h2>New key “{{name}}”: copy it now</h2>
          <p>This secret is shown once; CertFleet keeps only its hash.</p>
          <p><code id="new-secret">{{secret}}</code></p>
          <p class="muted">scopes: {{scopes}}</p>
        </div>
        {{/created}}
        """

    static let keys = """
        {{>header}}
        <h1>API keys of this project</h1>
        \(secretShownOnce)
        <table id="keys"><thead><tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
        {{#keys}}<tr><td>{{name}}</td><td><code>{{prefix}}</code></td><td>{{scopes}}</td><td>{{created}}</td><td>{{lastUsed}}</td>
          <td>{{#revocable}}<form method="post" action="/console/keys/{{id}}/revoke" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger revoke-key">Revoke</button></form>{{/revocable}}
            {{^revocable}}<span class="muted">this session's key</span>{{/revocable}}</td></tr>{{/keys}}
        </tbody></table>
        <h2>Create a key</h2>
        <form method="post" action="/console/keys" class="card narrow" id="key-form">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="key-name">Name</label>
          <input type="text" id="key-name" name="name">
          <fieldset><legend>Scopes (only those this key holds can be granted)</legend>
          {{#grantable}}<label><input type="checkbox" name="scope_{{.}}" id="scope-{{.}}"> {{.}}</label>{{/grantable}}
          </fieldset>
          <button type="submit" id="create-key">Create key</button>
        </form>
        {{>footer}}
        """

    static let projects = """
        {{>header}}
        <h1>Projects</h1>
        {{#createdProject}}<div class="card secret" id="created-project"><h2>Project “{{name}}” created</h2>
          <p>Its first admin key, shown once: <code id="new-secret">{{secret}}</code></p></div>{{/createdProject}}
        <form method="post" action="/console/projects" class="card narrow" id="project-form">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="project-name">New project's name</label>
          <input type="text" id="project-name" name="name" required>
          <button type="submit" id="create-project">Create project</button>
        </form>
        {{>footer}}
        """
}
