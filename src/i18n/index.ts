import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInstance, type i18n } from 'i18next';
import Negotiator from 'negotiator';

/**
 * Message catalogues for every page and mail: `locales/<locale>/<area>.json`, one file per area
 * (an i18next namespace), so keys read as `area:key` in templates (`it.t('login:title')`).
 */
export const LOCALES = ['en', 'de', 'fr'] as const;
export type Locale = (typeof LOCALES)[number];
/** A key, or keys tried in order (the first the catalogue has wins). */
export type Translate = (key: string | string[], params?: Record<string, unknown>) => string;
export type Catalogue = Record<string, unknown>;

const LOCALES_DIR = fileURLToPath(new URL('./locales/', import.meta.url));

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/** Every catalogue on disk: locale -> area -> messages. */
export function loadCatalogues(): Record<Locale, Record<string, Catalogue>> {
  const read = (locale: Locale) =>
    Object.fromEntries(
      readdirSync(`${LOCALES_DIR}${locale}`)
        .filter((file) => file.endsWith('.json'))
        .map((file) => [file.slice(0, -'.json'.length), JSON.parse(readFileSync(`${LOCALES_DIR}${locale}/${file}`, 'utf8')) as Catalogue]),
    );
  return Object.fromEntries(LOCALES.map((locale) => [locale, read(locale)])) as Record<Locale, Record<string, Catalogue>>;
}

/** The first supported locale the tags name, most preferred first (`de-CH` -> `de`). */
function firstSupported(tags: readonly string[]): Locale | undefined {
  for (const tag of tags) {
    const base = tag.trim().toLowerCase().split(/[-_]/)[0];
    if (isLocale(base)) return base;
  }
  return undefined;
}

export interface LocaleHints {
  /** The authorization request's `ui_locales`: space-separated tags, most preferred first. */
  uiLocales?: unknown;
  acceptLanguage?: string | undefined;
}

/** `brand`: the name every page and mail shows (BRAND_NAME), in place of the catalogues' `common:brand`. */
export function createI18n(defaultLocale: Locale, brand?: string) {
  const catalogues = loadCatalogues();
  if (brand) for (const locale of LOCALES) catalogues[locale].common = { ...catalogues[locale].common, brand };
  const instance: i18n = createInstance();
  // Templates escape what they print, so interpolation must not escape a second time.
  void instance.init({
    resources: catalogues,
    lng: defaultLocale,
    fallbackLng: 'en',
    supportedLngs: [...LOCALES],
    initAsync: false,
    interpolation: { escapeValue: false },
    returnNull: false,
  });

  /** `ui_locales` first, then `Accept-Language`, then the configured default. */
  function negotiate({ uiLocales, acceptLanguage }: LocaleHints): Locale {
    const requested = typeof uiLocales === 'string' ? uiLocales.split(' ') : [];
    const accepted = acceptLanguage ? new Negotiator({ headers: { 'accept-language': acceptLanguage } }).languages() : [];
    return firstSupported(requested) ?? firstSupported(accepted) ?? defaultLocale;
  }

  function translator(locale: Locale): Translate {
    const fixed = instance.getFixedT(locale);
    return (key, params) => fixed(key, params ?? {}) as string;
  }

  /**
   * What every page template gets: `locale` (for `<html lang>`), `t` for text the template
   * escapes (`<%= it.t('login:title') %>`), and `tHtml` for messages whose catalogue text holds
   * markup: it escapes the parameters, so the result is printed raw (`<%~ it.tHtml(...) %>`).
   */
  function pageLocals(locale: Locale): PageLocals {
    const t = translator(locale);
    const tHtml: Translate = (key, params) =>
      t(key, Object.fromEntries(Object.entries(params ?? {}).map(([name, value]) => [name, typeof value === 'string' ? escapeHtml(value) : value])));
    return { locale, t, tHtml };
  }

  return {
    defaultLocale,
    negotiate,
    translator,
    pageLocals,
    /** The page locals of the language these hints negotiate. */
    localsFor: (hints: LocaleHints): PageLocals => pageLocals(negotiate(hints)),
  };
}

export interface PageLocals {
  locale: Locale;
  t: Translate;
  tHtml: Translate;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

export type I18n = ReturnType<typeof createI18n>;
