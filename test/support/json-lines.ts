/** Reads a child process's output as JSON lines (its log, or a driver's events); other lines go to `other`. */
import type { Readable } from 'node:stream';

export function onJsonLines(stream: Readable | null | undefined, onObject: (value: unknown) => void, other: (line: string) => void): void {
  let buf = '';
  stream?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        other(line);
        continue;
      }
      onObject(value);
    }
  });
}
