/**
 * A Graph answer, already read in full, in the shape of the fetch Response that @microsoft/microsoft-graph-client
 * reads (GraphResponseHandler: status, ok, headers.get, json/text/arrayBuffer/blob/body; GraphErrorHandler and
 * RetryHandler: status and headers). Building a WHATWG Response and Headers (undici) for every call, and reading
 * it back through its body mixin, cost more CPU than the HTTP exchange's own parsing; this holds the bytes and the
 * header lines as they came (bench/relay.bench.ts, 1 node: 1.53 -> 1.31 ms CPU per XMPP -> Teams message, medians
 * of 4 alternated runs).
 */

/** Response headers, looked up case-insensitively as Headers does; a repeated header's values joined by ", ". */
export class GraphResponseHeaders {
  private readonly map = new Map<string, string>();

  /** `lines`: name, value, name, value... (node's rawHeaders). */
  constructor(lines: readonly string[]) {
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const name = (lines[i] as string).toLowerCase();
      const value = lines[i + 1] as string;
      const had = this.map.get(name);
      this.map.set(name, had === undefined ? value : `${had}, ${value}`);
    }
  }

  get(name: string): string | null {
    return this.map.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }

  forEach(fn: (value: string, name: string) => void): void {
    for (const [k, v] of this.map) fn(v, k);
  }

  entries(): IterableIterator<[string, string]> {
    return this.map.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.map.entries();
  }
}

/** Statuses whose answer has no body (Fetch standard: "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export class GraphResponse {
  readonly ok: boolean;
  private readonly bytes: Buffer | null;
  private used = false;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: GraphResponseHeaders,
    body: Buffer,
  ) {
    this.ok = status >= 200 && status < 300;
    this.bytes = NULL_BODY.has(status) ? null : body;
  }

  /** A stream of the bytes, for ResponseType.STREAM (nothing here asks for one). */
  get body(): ReadableStream<Uint8Array> | null {
    return this.bytes === null ? null : new Response(this.bytes).body;
  }

  private take(): Buffer {
    if (this.used) throw new TypeError('Body has already been consumed.');
    this.used = true;
    return this.bytes ?? Buffer.alloc(0);
  }

  async text(): Promise<string> {
    return this.take().toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.take().toString('utf8')) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  async blob(): Promise<Blob> {
    return new Blob([this.take()], { type: this.headers.get('content-type') ?? '' });
  }

  /** What the Graph client's middleware chain is typed to carry. */
  asResponse(): Response {
    // The client and this project read only the members above (see the module comment).
    return this as unknown as Response;
  }
}
