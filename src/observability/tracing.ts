import { FastifyOtelInstrumentation } from '@fastify/otel';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { FastifyInstance } from 'fastify';
import { redactUrl } from './logging.ts';

/**
 * OpenTelemetry traces, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: one span per request
 * (with its route) and its hooks, exported over OTLP/HTTP to `<endpoint>/v1/traces`.
 */
export async function registerTracing(app: FastifyInstance, endpoint: string | undefined, serviceName = 'ostiary') {
  if (!endpoint) return;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }), { scheduledDelayMillis: 1000 })],
  });
  const instrumentation = new FastifyOtelInstrumentation({
    ignorePaths: (options: { url: string }) => ['/healthz', '/readyz', '/metrics'].includes(options.url),
    // The span's url.path is the request URL, query included: without the secrets, as in the logs.
    requestHook: (span, request) => span.setAttribute('url.path', redactUrl(request.url)),
  });
  instrumentation.setTracerProvider(provider);
  await app.register(instrumentation.plugin());
  app.addHook('onClose', async () => provider.shutdown());
}
