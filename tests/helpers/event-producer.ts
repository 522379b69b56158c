// Posts uniquely numbered email events to /v0/events without pause (single events and batches of 20, in
// parallel) and counts what was acknowledged, for the "nothing acknowledged is lost" tests.
export interface Producer {
  /** Events the server acknowledged (202 with successful_rows = all of them). */
  acked: () => number;
  /** Requests that were not acknowledged (their events do not count). */
  refused: () => number;
  stop: () => Promise<void>;
}

export function startProducer(baseUrl: string, token: string, prefix: string, datasource = 'email_events'): Producer {
  let next = 0;
  let acked = 0;
  let refused = 0;
  let running = true;
  const event = () => {
    const n = next++;
    return JSON.stringify({ event_id: `${prefix}_${n}`, timestamp: '2025-03-01 10:00:00', event_type: 'open', campaign_id: `camp_${prefix}`, email_id: 'e', recipient_id: `u${n}`, recipient_email: 'x@example.com', link_url: '', metadata: '{}', user_agent: '' });
  };
  const loop = async (batch: number): Promise<void> => {
    while (running) {
      const lines = Array.from({ length: batch }, event);
      try {
        const res = await fetch(`${baseUrl}/v0/events?name=${datasource}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: lines.join('\n') });
        const body = (await res.json()) as { successful_rows?: number };
        if (res.status === 202 && body.successful_rows === batch) acked += batch;
        else refused++;
      } catch {
        refused++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const loops = [loop(1), loop(1), loop(20)];
  return {
    acked: () => acked,
    refused: () => refused,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
