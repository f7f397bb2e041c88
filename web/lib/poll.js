// One polling helper for the views that follow the server (documents being ingested, source
// runs): fetch, paint, and poll again after the delay the paint asks for.

/**
 * A poller. Each poll calls `load()`; its result goes to `paint(data)`, which returns the
 * delay in ms until the next poll, or null for none. A failed load goes to `fail(err)`, and
 * the poll is tried again after `retryMs`. A result that a newer poll overtook, or that came
 * after `stop()`, is dropped.
 *
 * `now()` polls at once (awaitable; it replaces a pending poll), `soon(ms)` schedules one,
 * `stop()` ends it for good (call it when the view is left), `stopped` tells whether it did.
 */
export function poller({ load, paint, fail = () => {}, retryMs = 3000 }) {
  let timer = null;
  let stopped = false;
  let seq = 0;

  function soon(ms) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(now, ms);
  }

  async function now() {
    clearTimeout(timer); // when called directly, a pending poll is this one
    timer = null;
    if (stopped) return;
    const my = ++seq;
    let data;
    try {
      data = await load();
    } catch (e) {
      if (stopped || my !== seq) return;
      fail(e);
      soon(retryMs);
      return;
    }
    if (stopped || my !== seq) return;
    const next = paint(data);
    if (next != null) soon(next);
  }

  return {
    now,
    soon,
    stop() { stopped = true; clearTimeout(timer); },
    get stopped() { return stopped; },
  };
}
