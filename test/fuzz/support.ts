import fc from 'fast-check';

/**
 * fast-check parameters: `runs` cases in `npm test`, FUZZ_RUNS cases under `npm run fuzz`.
 * The seed is random, so each run explores new inputs; a failure prints its seed and path, and
 * FUZZ_SEED (with FUZZ_PATH) replays it.
 */
export function fuzzParameters(runs: number): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
  return {
    numRuns: Number(process.env.FUZZ_RUNS) || runs,
    ...(seed === undefined ? {} : { seed, path: process.env.FUZZ_PATH }),
  };
}

/** Strings a parser meets in the wild, and the ones that break parsers: NUL, lone surrogates, controls, long runs. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\uD800', '\uDFFF', 'x\uDC00y', '\u202E', '\uFEFF', '\r\n', '..', '%00', '*', '__proto__', 'constructor'),
  fc.tuple(fc.constantFrom('a', '\u0000', '\uD800', 'é', '0', ':', '/'), fc.integer({ min: 1_000, max: 200_000 })).map(([unit, count]) => unit.repeat(count)),
);

/** Any JSON value, with the nasty strings among its strings. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 }).chain((value) => fc.oneof(fc.constant(value), nastyString));
