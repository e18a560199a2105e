import { unescape } from 'node:querystring';
import pino from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from '../config/index.ts';

/**
 * Parameters whose values are credentials, bearer tokens or personal data; their values never
 * reach a log. `state` and `nonce` are left readable: they are not credentials (the client
 * checks them against its own session, and they travel in redirect URLs anyway) and they tie
 * log lines to a flow.
 */
export const SECRET_PARAMS = [
  'access_token', 'actor_token', 'api_key', 'assertion', 'client_assertion', 'client_secret', 'code', 'code_verifier', 'csrf',
  'current_password', 'device_code', 'dpop', 'id_token', 'id_token_hint', 'login_hint', 'logout_hint', 'logout_token',
  'new_password', 'password', 'refresh_token', 'request', 'request_uri', 'subject_token', 'token', 'user_code',
];
/** Request and response headers that carry credentials. */
export const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'dpop'];
const REDACTED = '[redacted]';
const SECRET_NAMES = new Set(SECRET_PARAMS);

/** Compared as the provider parses it (percent-decoded), and also regardless of case. */
const isSecretName = (raw: string) => SECRET_NAMES.has(unescape(raw.replace(/\+/g, ' ')).trim().toLowerCase());

/** The URL with the value of every secret parameter (each repetition) replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const pairs = url.slice(query + 1).split('&').map((pair) => {
    const name = pair.split('=', 1)[0]!;
    return isSecretName(name) ? `${name}=${REDACTED}` : pair;
  });
  return `${url.slice(0, query)}?${pairs.join('&')}`;
}

// In a JSON line: `?name=value` or `&name=value`, the value running to `&`, blank or the string's end (JSON escapes included).
const QUERY_PARAM = /([?&])([^=&?#\s"\\]{1,200})=((?:\\.|[^&\s"\\])*)/g;
// A scheme and its credentials; a short plain word after it ("Basic authentication failed") is prose.
const CREDENTIAL = /\b(bearer|basic|dpop)(\s+)(?![a-z]{1,15}(?![\w.~+/=-]))[\w.~+/-]+=*/gi;
const API_KEY = /\bosk_[A-Za-z0-9_-]+/g;
// The password of a URL with credentials (`smtp://user:password@host`, a database URL).
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:"\\]*):[^\s/?#@"\\]+@/gi;
const MAY_HOLD_CREDENTIAL = /osk_|bearer|basic|dpop|:\/\/[^\s"]*@/i;

/**
 * The last pass over every log line, whatever logged it: a URL quoted in a message, an error
 * or an event detail loses its secret parameters there too.
 */
export function redactLine(line: string): string {
  // Most lines (a request without a query, its completion) hold nothing to redact: skip the passes.
  if (!line.includes('?') && !line.includes('&') && !MAY_HOLD_CREDENTIAL.test(line)) return line;
  return line
    .replace(QUERY_PARAM, (match, sep: string, name: string) => (isSecretName(name) ? `${sep}${name}=${REDACTED}` : match))
    .replace(CREDENTIAL, `$1$2${REDACTED}`)
    .replace(API_KEY, REDACTED)
    .replace(URL_PASSWORD, `$1:${REDACTED}@`);
}

const headerPaths = SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`]);

/** Log options: JSON lines at LOG_LEVEL, URLs and headers without secrets. */
export function loggerOptions(config: Config) {
  return {
    level: config.logLevel,
    // rawPacket: the bytes of a request Node could not parse (logged at trace), headers and all.
    redact: { paths: [...headerPaths, 'err.rawPacket'], censor: REDACTED },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; socket?: { remotePort?: number } }) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
    },
    hooks: { streamWrite: redactLine },
  };
}

/** Whether log lines are printed for people: as configured, else on a terminal outside production. */
export function prettyLogs(config: Config, stream: { isTTY?: boolean } = process.stderr): boolean {
  return config.logFormat ? config.logFormat === 'pretty' : !config.production && stream.isTTY === true;
}

/**
 * Where log lines go: stderr, as JSON lines, or as one readable line each. The pretty printer
 * reads the JSON line after `redactLine`, so it shows nothing the JSON would not.
 */
export function logDestination(config: Config) {
  if (!prettyLogs(config)) return pino.destination(2);
  return pinoPretty({ destination: 2, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
}
