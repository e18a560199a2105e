// Writes ostiary.schema.json from the zod schema: `npm run config-file:schema`.
import { writeFileSync } from 'node:fs';
import { configFileJsonSchema } from './schema.ts';

writeFileSync(new URL('./ostiary.schema.json', import.meta.url), `${JSON.stringify(configFileJsonSchema(), null, 2)}\n`);
