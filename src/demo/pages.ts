/** The demo app's pages: plain server-rendered HTML, no script, one stylesheet. */
import { escapeHtml } from '../i18n/index.ts';

const escape = (value: unknown) => escapeHtml(String(value));

/** Claims that are times (seconds since 1970): shown with their date too. */
const TIMES = new Set(['exp', 'iat', 'nbf', 'auth_time']);

export type Claims = Record<string, unknown>;

export interface ApiAnswer {
  url: string;
  status: number;
  body: string;
}

export interface SignedIn {
  csrf: string;
  idClaims: Claims;
  accessClaims: Claims;
  hasRefreshToken: boolean;
  notice?: string;
  answer?: ApiAnswer;
}

function layout(title: string, main: string, signedInAs?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Ostiary demo</title>
<link rel="stylesheet" href="/demo.css">
</head>
<body>
<header><span class="brand">Ostiary demo app</span>${signedInAs ? `<span>Signed in as ${escape(signedInAs)}</span>` : ''}</header>
<main>
${main}
</main>
<footer>A relying party built with <code>openid-client</code>: authorization code with PKCE, refresh and RP-initiated logout.</footer>
</body>
</html>
`;
}

function claimsTable(id: string, title: string, note: string, claims: Claims): string {
  const rows = Object.entries(claims).map(([name, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    const date = TIMES.has(name) && typeof value === 'number' ? ` <small>${new Date(value * 1000).toISOString()}</small>` : '';
    return `<tr><th scope="row">${escape(name)}</th><td><code>${escape(text)}</code>${date}</td></tr>`;
  });
  return `<section>
<h2 id="${id}">${escape(title)}</h2>
<p class="note">${escape(note)}</p>
<table aria-labelledby="${id}">
${rows.join('\n')}
</table>
</section>`;
}

/** A POST button, carrying the session's CSRF token. */
const action = (path: string, label: string, csrf: string, kind = '') =>
  `<form method="post" action="${path}"><input type="hidden" name="csrf" value="${escape(csrf)}"><button type="submit"${kind ? ` class="${kind}"` : ''}>${escape(label)}</button></form>`;

export function startPage(issuer: string): string {
  return layout(
    'Welcome',
    `<h1>Welcome</h1>
<p>This app signs you in with Ostiary at <code>${escape(issuer)}</code>, then shows the tokens it received and calls an API with its access token.</p>
<p><a class="button" href="/login">Sign in with Ostiary</a></p>`,
  );
}

function answerSection(answer: ApiAnswer): string {
  return `<section class="answer">
<h2>The API answered ${answer.status}</h2>
<p class="note">GET <code>${escape(answer.url)}</code> with the access token as a bearer token</p>
<pre>${escape(answer.body)}</pre>
</section>`;
}

export function signedInPage(view: SignedIn): string {
  const who = String(view.idClaims.name ?? view.idClaims.email ?? view.idClaims.sub);
  return layout(
    'Signed in',
    `<h1>Hello, ${escape(who)}</h1>
${view.notice ? `<p class="notice" role="status">${escape(view.notice)}</p>` : ''}
<div class="actions">
${action('/call-api', 'Call the API', view.csrf)}
${view.hasRefreshToken ? action('/refresh', 'Refresh tokens', view.csrf, 'secondary') : ''}
${action('/logout', 'Sign out', view.csrf, 'secondary')}
</div>
${view.answer ? answerSection(view.answer) : ''}
<div class="columns">
${claimsTable('id-token', 'ID token', 'Who signed in: verified by openid-client (signature, issuer, audience, nonce).', view.idClaims)}
${claimsTable('access-token', 'Access token', 'For the API: decoded here, verified by the API itself.', view.accessClaims)}
</div>`,
    String(view.idClaims.email ?? view.idClaims.sub),
  );
}

export function errorPage(message: string): string {
  return layout(
    'Something went wrong',
    `<h1>Something went wrong</h1>
<p role="alert">${escape(message)}</p>
<p><a href="/">Back to the start page</a></p>`,
  );
}
