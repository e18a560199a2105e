import { Eta } from 'eta';
import type { I18n, Locale } from '../i18n/index.ts';
import { createViews, VIEWS_DIR } from '../views/index.ts';

/** The mails Ostiary sends, each `views/mail/<name>.txt.eta` and `.html.eta`, its texts under `mail:<name>.*`. */
export const MAIL_TEMPLATES = ['test', 'password-reset', 'password-changed', 'verify-email', 'signup-existing', 'invitation', 'email-change', 'email-change-requested', 'email-changed', 'recovery-code-used', 'second-factor-changed'] as const;
export type MailTemplate = (typeof MAIL_TEMPLATES)[number];

/** Values a template puts into its texts (a link, a name); plain strings, escaped where HTML needs it. */
export type MailParams = Readonly<Record<string, string>>;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export function isMailTemplate(value: unknown): value is MailTemplate {
  return typeof value === 'string' && (MAIL_TEMPLATES as readonly string[]).includes(value);
}

/**
 * Renders both parts of a mail with the pages' template engine: the HTML part through the
 * pages' own (escaping) instance, the text part through one that does not escape, as `&amp;`
 * would be wrong in plain text.
 */
export function createMailRenderer(i18n: I18n) {
  const html = createViews().eta;
  const text = new Eta({ views: VIEWS_DIR, autoEscape: false, cache: true, autoTrim: [false, false] });

  return async (template: MailTemplate, params: MailParams, locale: Locale): Promise<RenderedMail> => {
    const t = i18n.translator(locale);
    const brand = t('common:brand');
    const subject = t(`mail:${template}.subject`, { ...params, brand });
    const data = { t, locale, brand, subject, params };
    return {
      subject,
      text: await text.renderAsync(`mail/${template}.txt.eta`, data),
      html: await html.renderAsync(`mail/${template}.html.eta`, data),
    };
  };
}
