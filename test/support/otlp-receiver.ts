/**
 * An OTLP/HTTP trace receiver on loopback (what an OpenTelemetry Collector's otlphttp receiver accepts): it keeps
 * the spans the nodes export (JSON encoding, https://opentelemetry.io/docs/specs/otlp/#otlphttp) for assertions.
 */
import { createServer, type Server } from 'node:http';

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** service.instance.id of the exporting node. */
  readonly node: string | undefined;
  /** The span's string attributes (e.g. xtg.tenant). */
  readonly attributes: Readonly<Record<string, string>>;
}

interface ExportBody {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: { stringValue?: string } }[] }[] }[];
  }[];
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    let self: OtlpReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportBody;
          for (const rs of body.resourceSpans ?? []) {
            const node = rs.resource?.attributes?.find((a) => a.key === 'service.instance.id')?.value.stringValue;
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                const attributes = Object.fromEntries((s.attributes ?? []).filter((a) => a.value.stringValue !== undefined).map((a) => [a.key, a.value.stringValue as string]));
                self?.spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, node, attributes });
              }
            }
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    self = new OtlpReceiver(server, `http://127.0.0.1:${port}/v1/traces`);
    return self;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
