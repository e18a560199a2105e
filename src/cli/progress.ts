import cliProgress from 'cli-progress';
import type { Output } from './io.ts';

export interface ProgressBar {
  /**
   * Work done so far out of `total`; the bar appears on the first call. Absent when no bar is
   * shown, so the work need not count what nobody will see.
   */
  update?: (done: number, total: number) => void;
  stop(): void;
}

/**
 * A progress bar on stderr when stderr is a terminal and the output is not --json; otherwise
 * it does nothing, so scripts and logs see only the result.
 */
export function progressBar(out: Output, label: string): ProgressBar {
  if (out.json || !process.stderr.isTTY) return { stop() {} };
  let bar: cliProgress.SingleBar | undefined;
  return {
    update: (done, total) => {
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total}`, stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      bar?.stop();
    },
  };
}
