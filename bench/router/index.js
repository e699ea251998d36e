// The entry Worker of the bench's local stacks (bench tree only, never deployed).
//
// `wrangler dev` serves only its first Worker on the port, and Miniflare's scheduled endpoint
// reaches only that one. This router is that first Worker: it fires the scheduled handler of
// the dispatcher or of a bare Worker through its service binding's `scheduled()` (workerd's
// `service_binding_extra_handlers`), so both sides of a comparison are fired the same way,
// and it forwards every other request (the admin API, the bench's setup route) unchanged.
//
//   GET /bench/scheduled?to=dispatcher|bare&cron=...&time=<epoch ms>  -> {"outcome": ...}
//   any other request with header `x-bench-to: dispatcher|bare|ledger` -> that Worker (the
//   ledger Worker serves only its local debug passage: the bench reads each instance's
//   `/stats`, the rows it read and wrote, through it)

function target(env, name) {
  return { dispatcher: env.DISPATCHER, bare: env.BARE_PRODUCER, ledger: env.LEDGER }[name];
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/bench/scheduled") {
      const worker = target(env, url.searchParams.get("to"));
      if (!worker) return new Response("unknown target", { status: 400 });
      const result = await worker.scheduled({
        scheduledTime: new Date(Number(url.searchParams.get("time"))),
        cron: url.searchParams.get("cron") ?? "",
      });
      return Response.json({ outcome: result.outcome }, { status: result.outcome === "ok" ? 200 : 500 });
    }
    const worker = target(env, request.headers.get("x-bench-to") ?? "dispatcher");
    if (!worker) return new Response("unknown target", { status: 400 });
    return worker.fetch(request);
  },
};
