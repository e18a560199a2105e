/** The strings of a JSON array column (anything else in it is dropped). */
export const strings = (json: unknown): string[] => (Array.isArray(json) ? json.filter((v): v is string => typeof v === 'string') : []);
