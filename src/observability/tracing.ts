/**
 * OpenTelemetry traces (issue: operations): a span from a stanza received to the Graph call it causes, and from a
 * Graph notification to the stanza it becomes, across nodes: actor messages carry the W3C `traceparent`
 * (https://www.w3.org/TR/trace-context/). Exported over OTLP/HTTP when `observability.otlp.endpoint` is set;
 * otherwise the API stays a no-op and costs nothing. Log lines carry the trace id of the active span.
 */
import { context, propagation, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const TRACER = 'xmpp-teams-gateway';

export interface TracingOptions {
  /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; undefined: tracing off. */
  readonly endpoint: string | undefined;
  readonly headers?: Readonly<Record<string, string>>;
  readonly nodeId: string;
  readonly version: string;
}

/** The span attribute naming the tenant a span works for (issue 16): the configured tenant id ("default" alone). */
export const TENANT_ATTRIBUTE = 'xtg.tenant';

/** W3C trace context as it travels in an actor message between nodes. */
export type TraceCarrier = Record<string, string>;

/** False until a node starts exporting traces: spans are then skipped outright (no span object, no context switch). */
let tracingOn = false;

export class Tracing {
  private constructor(private readonly provider: BasicTracerProvider | undefined) {}

  static start(o: TracingOptions): Tracing {
    if (!o.endpoint) return new Tracing(undefined);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'xmpp-teams-gateway', 'service.version': o.version, 'service.instance.id': o.nodeId }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: o.endpoint, headers: { ...(o.headers ?? {}) } }), { scheduledDelayMillis: 1000 })],
    });
    trace.setGlobalTracerProvider(provider);
    tracingOn = true;
    return new Tracing(provider);
  }

  get enabled(): boolean {
    return this.provider !== undefined;
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown().catch(() => undefined);
  }
}

/** Runs `fn` in a new span (child of the active one); a throw marks the span as an error. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  if (!tracingOn) return fn();
  return trace.getTracer(TRACER).startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active trace context, to send along with an actor message. */
export function traceCarrier(): TraceCarrier {
  const carrier: TraceCarrier = {};
  if (!tracingOn) return carrier;
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** Runs `fn` with the trace context another node sent as the parent. */
export function withTraceCarrier<T>(carrier: TraceCarrier | undefined, fn: () => T): T {
  if (!carrier) return fn();
  return context.with(propagation.extract(context.active(), carrier), fn);
}

/**
 * Runs `fn` in the trace a W3C `traceparent` names (W3C Trace Context §3.2), unless that trace is already the active
 * one: work done later for a stanza (a retried or drained message) joins the trace the stanza started.
 */
export function inTraceOf<T>(traceparent: string | undefined, fn: () => T): T {
  if (!tracingOn || !traceparent) return fn();
  if (activeTraceIds()?.traceId === traceparent.slice(3, 35)) return fn();
  return withTraceCarrier({ traceparent }, fn);
}

/** Trace and span id of the active span, for log lines (undefined when tracing is off). */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { traceId: sc.traceId, spanId: sc.spanId } : undefined;
}
