import { createHash } from 'node:crypto';
import type { BrandConfig } from '../config/index.ts';
import { pageCsp } from '../security/index.ts';

/** What the layout shows of the brand: where its stylesheet and logo are. */
export interface PageBrand {
  stylesheet: string;
  logo: string | undefined;
}

const WHITE = '#ffffff';
const INK = '#1d2330';

function luminance(hex: string): number {
  const digits = hex.length === 4 ? [...hex.slice(1)].map((d) => d + d).join('') : hex.slice(1);
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(digits.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** WCAG 2 contrast ratio of two colours. */
export function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light! + 0.05) / (dark! + 0.05);
}

/** The text colour a button of this colour needs to stay readable: white or ink, whichever contrasts more. */
export const textOn = (background: string) => (contrast(background, WHITE) >= contrast(background, INK) ? WHITE : INK);

const version = (content: string | Buffer) => createHash('sha256').update(content).digest('base64url').slice(0, 12);

/**
 * The brand as pages use it: a generated stylesheet (the colours as CSS custom properties, then
 * the operator's own stylesheet), the logo, and the page CSP that lets the logo load. Asset URLs
 * carry a hash of their content, so a changed brand reaches browsers at once.
 */
export function createBranding(brand: BrandConfig) {
  const colours = [
    ':root {',
    `  --brand-primary: ${brand.primaryColor};`,
    `  --brand-on-primary: ${textOn(brand.primaryColor)};`,
    `  --brand-background: ${brand.backgroundColor};`,
    '}',
  ].join('\n');
  const stylesheet = brand.stylesheet ? `${colours}\n\n/* BRAND_STYLESHEET */\n${brand.stylesheet}\n` : `${colours}\n`;
  const logoFile = brand.logo?.kind === 'file' ? { path: `/assets/logo${brand.logo.extension}`, ...brand.logo } : undefined;
  const logo = brand.logo?.kind === 'url' ? brand.logo.url : logoFile && `${logoFile.path}?v=${version(logoFile.bytes)}`;
  return {
    stylesheet,
    logoFile,
    page: { stylesheet: `/assets/brand.css?v=${version(stylesheet)}`, logo } satisfies PageBrand,
    csp: pageCsp(brand.logo?.kind === 'url' ? [brand.logo.origin] : []),
  };
}

export type Branding = ReturnType<typeof createBranding>;
