// Server-sent events from `GET /api/live`, read with fetch (through request(), so the API token is
// sent, which EventSource cannot do). Reconnects after a pause when the stream ends or fails.

import { request, token } from './api.js';

/**
 * Calls `onProgress(projections)` with `{ name: checkpoint }` for every projection that moved;
 * `onState('live' | 'offline')` as the connection comes and goes. Returns a function that stops it.
 */
export function followLive({ onProgress, onState }) {
  let stopped = false;
  let controller;
  const seen = {};

  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await request('/api/live', { raw: true, signal: controller.signal, headers: { accept: 'text/event-stream' } });
        onState('live');
        await readEvents(response.body, (event, data) => {
          const moved = {};
          for (const [name, checkpoint] of Object.entries(data.projections ?? {})) {
            if (seen[name] !== undefined && seen[name] !== checkpoint) moved[name] = checkpoint;
            seen[name] = checkpoint;
          }
          // The first `checkpoints` after a reconnect also tells what moved while we were away.
          if (event === 'progress' || Object.keys(moved).length) onProgress(moved);
        });
      } catch (error) {
        if (stopped) return;
        onState('offline');
        // Refused credentials: try again once the token changes (sign-in), not every few seconds.
        if (error?.status === 401) await tokenChange();
      }
      onState('offline');
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  void connect();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

async function tokenChange() {
  const refused = token();
  while (token() === refused) await new Promise((resolve) => setTimeout(resolve, 1000));
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(event, JSON.parse(data.join('\n')));
    }
  }
}
