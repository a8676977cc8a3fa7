/**
 * Counters and gauges in Prometheus text format, with no dependency. Label values are route
 * names, outcomes, codes and causes: never a token, a user id or message content.
 */

type Labels = Record<string, string | number>;

function key(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.join(',');
}

/** One labelled series; hot paths keep a reference and bump `v` directly. */
export interface Cell {
  v: number;
}

class Family {
  readonly values = new Map<string, Cell>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}
  cell(labels: Labels = {}): Cell {
    const k = key(labels);
    let c = this.values.get(k);
    if (!c) this.values.set(k, (c = { v: 0 }));
    return c;
  }
  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).v += by;
  }
  set(labels: Labels, value: number): void {
    this.cell(labels).v = value;
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.v ?? 0;
  }
  reset(): void {
    this.values.clear();
  }
}

export class Metrics {
  private readonly families = new Map<string, Family>();
  /** Gauges computed at scrape time (open connections, store health, heap). */
  private readonly collectors: Array<() => void> = [];

  counter(name: string, help: string): Family {
    return this.family(name, help, 'counter');
  }
  gauge(name: string, help: string): Family {
    return this.family(name, help, 'gauge');
  }
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  private family(name: string, help: string, type: 'counter' | 'gauge'): Family {
    let f = this.families.get(name);
    if (!f) {
      f = new Family(name, help, type);
      this.families.set(name, f);
    }
    return f;
  }

  render(): string {
    for (const c of this.collectors) c();
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      if (f.values.size === 0 && f.type === 'gauge') continue;
      for (const [k, c] of f.values) out.push(k ? `${f.name}{${k}} ${c.v}` : `${f.name} ${c.v}`);
    }
    return out.join('\n') + '\n';
  }
}

/** The gateway's metric families, created once so hot paths hold direct references. */
export function createGatewayMetrics() {
  const m = new Metrics();
  return {
    registry: m,
    connectionsOpen: m.gauge('wsgate_connections_open', 'Open client connections by route'),
    handshakes: m.counter('wsgate_handshakes_total', 'Handshakes by route and outcome (accepted or error code)'),
    messages: m.counter('wsgate_messages_total', 'Messages by route and direction'),
    bytes: m.counter('wsgate_bytes_total', 'Payload bytes by route and direction'),
    upstreamFailures: m.counter('wsgate_upstream_connect_failures_total', 'Failed upstream dials by route and kind'),
    heartbeatTimeouts: m.counter('wsgate_heartbeat_timeouts_total', 'Peers closed for a missed pong, by route and leg'),
    closes: m.counter('wsgate_closes_total', 'Closed connections by route, close code sent to the client and cause'),
    storeHealthy: m.gauge('wsgate_store_up', '1 when the channel store is reachable, 0 when degraded'),
    broadcasts: m.counter('wsgate_broadcast_messages_total', 'Channel messages delivered to local connections'),
    jwksAge: m.gauge('wsgate_jwks_last_success_age_seconds', 'Seconds since the JWKS was last fetched successfully'),
    heap: m.gauge('process_heap_used_bytes', 'JavaScript heap in use'),
    rss: m.gauge('process_resident_memory_bytes', 'Resident set size'),
    draining: m.gauge('wsgate_draining', '1 while the gateway is shutting down'),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/**
 * The cells one route's hot paths bump: message and byte counters, the open gauge, heartbeat
 * timeouts, and closes and handshake outcomes resolved once per distinct label set.
 */
export function createRouteCells(metrics: GatewayMetrics, route: string) {
  const labels = { route };
  const closeCells = new Map<string, Cell>();
  const handshakeCells = new Map<string, Cell>();
  return {
    /** wsgate_handshakes_total{route,outcome}. */
    handshakes(outcome: string): Cell {
      let c = handshakeCells.get(outcome);
      if (!c) handshakeCells.set(outcome, (c = metrics.handshakes.cell({ ...labels, outcome })));
      return c;
    },
    counters: {
      msgIn: metrics.messages.cell({ ...labels, direction: 'in' }),
      msgOut: metrics.messages.cell({ ...labels, direction: 'out' }),
      bytesIn: metrics.bytes.cell({ ...labels, direction: 'in' }),
      bytesOut: metrics.bytes.cell({ ...labels, direction: 'out' }),
      open: metrics.connectionsOpen.cell(labels),
      hbClient: metrics.heartbeatTimeouts.cell({ ...labels, leg: 'client' }),
      hbUpstream: metrics.heartbeatTimeouts.cell({ ...labels, leg: 'upstream' }),
      close(code: number, cause: string): void {
        const k = `${code}/${cause}`;
        let c = closeCells.get(k);
        if (!c) closeCells.set(k, (c = metrics.closes.cell({ ...labels, code, cause })));
        c.v++;
      },
    },
  };
}
