/// The console's templates and its one style sheet, compiled into the binary: an installed
/// `epochfs` needs no file beside it. Mustache escapes every `{{value}}`; nothing here loads
/// from anywhere else, and no page has a script.
enum Templates {
    static let all: [String: String] = [
        "layout": layout, "sign-in": signIn, "invitation": invitation, "home": home, "account": account,
        "message": message,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{$title}}{{/title}} · EpochFS</title>
        <link rel="stylesheet" href="/console.css">
        </head>
        <body>
        <a class="skip" href="#main">Skip to the content</a>
        <header>
        <p class="brand"><a href="/">EpochFS</a></p>
        {{#signedIn}}
        <nav aria-label="Console">
        <ul>
        <li><a href="/">Home</a></li>
        <li><a href="/account">Account</a></li>
        <li><form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{{formToken}}"><button type="submit">Sign out</button></form></li>
        </ul>
        </nav>
        {{/signedIn}}
        </header>
        <main id="main">
        {{#notice}}<p class="notice" role="status">{{.}}</p>{{/notice}}
        {{#problem}}<p class="problem" role="alert">{{.}}</p>{{/problem}}
        {{$content}}{{/content}}
        </main>
        </body>
        </html>
        """

    static let signIn = """
        {{<layout}}
        {{$title}}Sign in{{/title}}
        {{$content}}
        <h1>Sign in</h1>
        <form method="post" action="/sign-in">
        <input type="hidden" name="csrf" value="{{formToken}}">
        <p><label for="email">E-mail address</label>
        <input id="email" name="email" type="email" autocomplete="username" required value="{{email}}"></p>
        <p><label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required></p>
        <p><button type="submit">Sign in</button></p>
        </form>
        <p class="aside">Forgotten your password? Ask your operator for a new invitation: it lets you set a new one.</p>
        {{/content}}
        {{/layout}}
        """

    static let invitation = """
        {{<layout}}
        {{$title}}Set your password{{/title}}
        {{$content}}
        <h1>Set your password</h1>
        <p>For <strong>{{email}}</strong>, {{roleDescription}}.</p>
        <form method="post" action="/invitation/{{token}}">
        <input type="hidden" name="csrf" value="{{formToken}}">
        <p><label for="password">New password</label>
        <input id="password" name="password" type="password" autocomplete="new-password" minlength="{{minimumLength}}" required aria-describedby="password-rule"></p>
        <p id="password-rule" class="aside">At least {{minimumLength}} characters.</p>
        <p><label for="confirmation">The same password again</label>
        <input id="confirmation" name="confirmation" type="password" autocomplete="new-password" minlength="{{minimumLength}}" required></p>
        <p><button type="submit">Set password</button></p>
        </form>
        {{/content}}
        {{/layout}}
        """

    static let home = """
        {{<layout}}
        {{$title}}{{heading}}{{/title}}
        {{$content}}
        <h1>{{heading}}</h1>
        <p>Signed in as <strong>{{email}}</strong>.</p>
        <ul class="links">
        <li><a href="/account">Your account</a>: password, sessions, recent sign-ins and time zone.</li>
        </ul>
        {{/content}}
        {{/layout}}
        """

    static let account = """
        {{<layout}}
        {{$title}}Account{{/title}}
        {{$content}}
        <h1>Account</h1>
        <p><strong>{{email}}</strong>, {{roleDescription}}.</p>

        <section aria-labelledby="sign-ins">
        <h2 id="sign-ins">Recent sign-ins</h2>
        {{^signIns}}<p>None yet.</p>{{/signIns}}
        {{#hasSignIns}}
        <div class="scroll">
        <table>
        <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Time ({{timeZone}})</th><th scope="col">Address</th><th scope="col">Outcome</th></tr></thead>
        <tbody>
        {{#signIns}}<tr><td data-label="UTC">{{utc}}</td><td data-label="{{timeZone}}">{{local}}</td><td data-label="Address">{{address}}</td><td data-label="Outcome">{{outcome}}</td></tr>
        {{/signIns}}
        </tbody>
        </table>
        </div>
        {{/hasSignIns}}
        </section>

        <section aria-labelledby="change-password">
        <h2 id="change-password">Change password</h2>
        <form method="post" action="/account/password">
        <input type="hidden" name="csrf" value="{{formToken}}">
        <p><label for="current">Current password</label>
        <input id="current" name="current" type="password" autocomplete="current-password" required></p>
        <p><label for="password">New password</label>
        <input id="password" name="password" type="password" autocomplete="new-password" minlength="{{minimumLength}}" required></p>
        <p><label for="confirmation">The new password again</label>
        <input id="confirmation" name="confirmation" type="password" autocomplete="new-password" minlength="{{minimumLength}}" required></p>
        <p><button type="submit">Change password</button></p>
        <p class="aside">Changing it signs out every other browser.</p>
        </form>
        </section>

        <section aria-labelledby="time-zone">
        <h2 id="time-zone">Time zone</h2>
        <form method="post" action="/account/time-zone">
        <input type="hidden" name="csrf" value="{{formToken}}">
        <p><label for="zone">Show times also in</label>
        <select id="zone" name="zone">
        {{#zones}}<option{{#selected}} selected{{/selected}}>{{name}}</option>
        {{/zones}}
        </select></p>
        <p><button type="submit">Save time zone</button></p>
        </form>
        </section>

        <section aria-labelledby="everywhere">
        <h2 id="everywhere">Sign out everywhere</h2>
        <form method="post" action="/account/sign-out-everywhere">
        <input type="hidden" name="csrf" value="{{formToken}}">
        <p>Ends every session of this account, on every device, this one included.</p>
        <p><button type="submit">Sign out everywhere</button></p>
        </form>
        </section>
        {{/content}}
        {{/layout}}
        """

    /// A page that only says something: a refusal, a link that no longer works.
    static let message = """
        {{<layout}}
        {{$title}}{{heading}}{{/title}}
        {{$content}}
        <h1>{{heading}}</h1>
        {{#paragraphs}}<p>{{.}}</p>
        {{/paragraphs}}
        <p><a href="{{linkTarget}}">{{linkText}}</a></p>
        {{/content}}
        {{/layout}}
        """

    static let styleSheet = """
        :root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4a4a; --accent: #0b4f8a; --line: #c8c8c8; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 1rem/1.5 system-ui, sans-serif; color: var(--ink); background: #fff; }
        header { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
                 padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: #f4f6f8; }
        .brand { margin: 0; font-weight: 700; }
        nav ul { display: flex; flex-wrap: wrap; gap: .75rem; list-style: none; margin: 0; padding: 0; align-items: center; }
        main { max-width: 44rem; margin: 0 auto; padding: 1rem; }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, select:focus { outline: 3px solid #f0a000; outline-offset: 2px; }
        label { display: block; font-weight: 600; }
        input, select { width: 100%; max-width: 28rem; padding: .5rem; font: inherit; border: 1px solid #767676; border-radius: 4px; }
        button { padding: .5rem 1rem; font: inherit; color: #fff; background: var(--accent); border: 0; border-radius: 4px; cursor: pointer; }
        nav button { padding: .25rem .75rem; }
        nav form { margin: 0; }
        .aside { color: var(--muted); }
        .notice { padding: .5rem 1rem; border-left: 4px solid #1b7f3b; background: #eef8f0; }
        .problem { padding: .5rem 1rem; border-left: 4px solid #b00020; background: #fdeef0; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); }
        /* On a phone each sign-in is a small block of labelled lines instead of a wide row. */
        @media (max-width: 40rem) {
          table, tbody, tr, td { display: block; }
          thead { position: absolute; left: -9999px; }
          tr { padding: .5rem 0; border-bottom: 1px solid var(--line); }
          td { border: 0; padding: 0; }
          td::before { content: attr(data-label) ": "; font-weight: 600; }
        }
        section { margin-top: 2rem; }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .25rem; }
        """
}
