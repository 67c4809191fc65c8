// Server-sent events from `GET /api/live`, read with fetch (through request(), so the API token is
// sent, which EventSource cannot do). Reconnects after a pause when the stream ends or fails, and at
// once when the console signs in or out (the stream follows the token).

import { onTokenChange, request } from './api.js';

/** How long to wait before connecting again after the stream failed or ended. */
const RETRY_MS = 2000;

/**
 * Calls `onProgress(projections)` with `{ name: checkpoint }` for every projection that moved;
 * `onState(state)` as the connection comes and goes: `connecting` (the first time), `live`,
 * `reconnecting` (failed or ended: trying again shortly), `off` (the server refused the credential:
 * until the next sign-in). Returns a function that stops it.
 */
export function followLive({ onProgress, onState }) {
  let stopped = false;
  let controller;
  let wake; // ends the current wait (retry pause or signed-out) early
  let tokenChanged = false;
  const seen = {};

  const stopFollowingToken = onTokenChange(() => {
    tokenChanged = true;
    controller?.abort();
    wake?.();
  });

  function pause(ms) {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async function connect() {
    onState('connecting');
    while (!stopped) {
      controller = new AbortController();
      tokenChanged = false;
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
        if (!tokenChanged && error?.status === 401) {
          // Refused credentials: wait for the next sign-in (or sign-out), then connect at once.
          onState('off');
          await pause();
          continue;
        }
      }
      if (stopped) return;
      if (tokenChanged) continue; // signed in or out meanwhile: the new token, now
      onState('reconnecting');
      await pause(RETRY_MS);
    }
  }

  void connect();
  return () => {
    stopped = true;
    stopFollowingToken();
    controller?.abort();
    wake?.();
  };
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
