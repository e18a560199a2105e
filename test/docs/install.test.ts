import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

/** Every installed package's directory (scoped ones included, nested node_modules too). */
function packageDirs(modules: string): string[] {
  if (!existsSync(modules)) return [];
  return readdirSync(modules).flatMap((name) => {
    if (name.startsWith('.')) return [];
    const dir = join(modules, name);
    if (name.startsWith('@')) return readdirSync(dir).flatMap((inner) => [join(dir, inner), ...packageDirs(join(dir, inner, 'node_modules'))]);
    return [dir, ...packageDirs(join(dir, 'node_modules'))];
  });
}

it('allowScripts decides explicitly for every installed package that has install scripts', () => {
  const policy = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).allowScripts as Record<string, boolean>;
  const withScripts = new Set<string>();
  for (const dir of packageDirs(join(ROOT, 'node_modules'))) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    // npm runs `node-gyp rebuild` for a package with a binding.gyp and no install script.
    const scripts = INSTALL_SCRIPTS.some((s) => manifest.scripts?.[s]) || existsSync(join(dir, 'binding.gyp'));
    if (scripts && manifest.name) withScripts.add(manifest.name);
  }
  expect(withScripts.size).toBeGreaterThan(0);
  for (const name of withScripts) expect(typeof policy[name], `allowScripts has no decision for ${name}`).toBe('boolean');
});
