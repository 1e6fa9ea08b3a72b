// nats.js worker of natsync's benchmark harness (bench/run.py runs it; see bench/README.md).
//
//   node bench/js/worker.mjs --list
//   node bench/js/worker.mjs --scenario pub --url nats://127.0.0.1:4222 --params '{"count":..}' \
//       --time-limit 60
//   node bench/js/worker.mjs --responder --url nats://127.0.0.1:4222 --subject bench.echo.own
//
// A scenario run prints one line "BENCH-RESULT {json}", like the Python workers: ok, metrics,
// maxrss_kb, rss_start_kb, elapsed_s, async_errors. Every loop is bounded in count and checks
// the deadline; a watchdog ends the process 5 s after it. The responder prints READY, echoes
// every request until stdin closes, then prints SERVED <n> (bench/responder.py's protocol).

import { writeSync } from "node:fs";
import { performance } from "node:perf_hooks";

const RESULT_MARKER = "BENCH-RESULT ";
const WATCHDOG_GRACE_S = 5;
const CHUNK = 10_000;
const CHECK_EVERY = 256;
const rssStartKb = process.resourceUsage().maxRSS;

class ScenarioError extends Error {}

function parseArgs(argv) {
  const args = { list: false, responder: false, timeLimit: 60, params: "{}" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--list") args.list = true;
    else if (a === "--responder") args.responder = true;
    else if (a === "--scenario") args.scenario = argv[++i];
    else if (a === "--url") args.url = argv[++i];
    else if (a === "--subject") args.subject = argv[++i];
    else if (a === "--params") args.params = argv[++i];
    else if (a === "--time-limit") args.timeLimit = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

let emitted = false;
function emit(result) {
  if (emitted) return;
  emitted = true;
  result.maxrss_kb = process.resourceUsage().maxRSS;
  writeSync(1, RESULT_MARKER + JSON.stringify(result) + "\n");
}

// ------------------------------------------------------------------ context and helpers

function makeCtx(url, params, limitS) {
  const deadline = performance.now() + limitS * 1000;
  return {
    url,
    params,
    subject: `bench.js.${Math.random().toString(16).slice(2, 10)}`,
    errors: [],
    remainingMs: () => Math.max(0, deadline - performance.now()),
    checkTime(what = "scenario") {
      if (performance.now() >= deadline) throw new ScenarioError(`${what} did not finish before the deadline`);
    },
  };
}

function payloadOf(params) {
  return new Uint8Array(Number(params.size)).fill(0x78); // b"x" * size, like the Python side
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function* chunks(total, size = CHUNK) {
  for (let done = 0; done < total; done += Math.min(size, total - done)) yield Math.min(size, total - done);
}

// Same definitions as scenarios.latency_metrics: samples in ns, figures in us.
function latencyMetrics(samplesNs) {
  if (!samplesNs.length) throw new ScenarioError("no latency samples");
  const ordered = Float64Array.from(samplesNs).sort();
  const n = ordered.length;
  const sum = ordered.reduce((acc, v) => acc + v, 0);
  const pct = (q) => ordered[Math.min(n - 1, Math.floor(q * n))] / 1000;
  return {
    mean_us: sum / n / 1000,
    p50_us: pct(0.5),
    p99_us: pct(0.99),
    max_us: ordered[n - 1] / 1000,
    ops_per_s: n / (sum / 1e9),
  };
}

function nowNs() {
  return Number(process.hrtime.bigint());
}

function withTimeout(promise, ms, what) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new ScenarioError(what())), Math.max(10, ms));
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

async function open(ctx) {
  const { connect } = await import("nats");
  const nc = await connect({ servers: ctx.url, reconnect: false, name: "bench", timeout: 10_000 });
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && ctx.errors.length < 20) ctx.errors.push(`${s.type}: ${s.data}`);
    }
  })().catch(() => {});
  return nc;
}

// ------------------------------------------------------------------ scenarios

async function pub(ctx) {
  const count = Number(ctx.params.count);
  const payload = payloadOf(ctx.params);
  const nc = await open(ctx);
  try {
    await nc.flush();
    const start = performance.now();
    for (const step of chunks(count)) {
      for (let i = 0; i < step; i++) nc.publish(ctx.subject, payload);
      ctx.checkTime("publishing");
    }
    await nc.flush();
    return { msgs_per_s: count / ((performance.now() - start) / 1000) };
  } finally {
    await nc.close();
  }
}

// Publisher and subscriber on two connections in this process; `callback` picks the
// subscription style: an async iterator (nats.js's usual one) or a callback.
async function pubsubWith(ctx, callback) {
  const count = Number(ctx.params.count);
  const payload = payloadOf(ctx.params);
  const subNc = await open(ctx);
  const pubNc = await open(ctx);
  let got = 0;
  let end = 0;
  try {
    let consumed;
    if (callback) {
      consumed = new Promise((resolve, reject) => {
        subNc.subscribe(ctx.subject, {
          callback: (err) => {
            if (err) return reject(err);
            if (++got === count) {
              end = performance.now();
              resolve();
            }
          },
        });
      });
    } else {
      const sub = subNc.subscribe(ctx.subject);
      consumed = (async () => {
        for await (const _m of sub) {
          if (++got === count) {
            end = performance.now();
            break;
          }
        }
      })();
    }
    await subNc.flush();
    const start = performance.now();
    for (const step of chunks(count)) {
      for (let i = 0; i < step; i++) pubNc.publish(ctx.subject, payload);
      ctx.checkTime("publishing");
    }
    await pubNc.flush();
    await withTimeout(consumed, ctx.remainingMs(), () => `subscriber got ${got}/${count} messages by the deadline`);
    return { msgs_per_s: count / ((end - start) / 1000) };
  } finally {
    await pubNc.close();
    await subNc.close();
  }
}

async function warmup(ctx, nc, payload) {
  const { subject, warmup: n } = ctx.params;
  const timeout = Number(ctx.params.timeout_s) * 1000;
  let reply = null;
  for (let i = 0; i < Number(n); i++) reply = await nc.request(subject, payload, { timeout });
  if (reply && !sameBytes(reply.data, payload)) throw new ScenarioError("responder echoed something else");
}

async function req(ctx) {
  const count = Number(ctx.params.count);
  const payload = payloadOf(ctx.params);
  const subject = String(ctx.params.subject);
  const timeout = Number(ctx.params.timeout_s) * 1000;
  const nc = await open(ctx);
  try {
    await warmup(ctx, nc, payload);
    const samples = new Array(count);
    for (let i = 0; i < count; i++) {
      const t0 = nowNs();
      await nc.request(subject, payload, { timeout });
      samples[i] = nowNs() - t0;
      if (!(i % 1024)) ctx.checkTime("requests");
    }
    return latencyMetrics(samples);
  } finally {
    await nc.close();
  }
}

// C concurrent request loops on one connection (scenarios_req.req_par_natspy's twin in JS).
async function reqPar(ctx) {
  const count = Number(ctx.params.count);
  const conc = Number(ctx.params.concurrency);
  const payload = payloadOf(ctx.params);
  const subject = String(ctx.params.subject);
  const timeout = Number(ctx.params.timeout_s) * 1000;
  const nc = await open(ctx);
  try {
    await warmup(ctx, nc, payload);
    const samples = [];
    const loop = async (n) => {
      for (let k = 0; k < n; k++) {
        const t0 = nowNs();
        await nc.request(subject, payload, { timeout });
        samples.push(nowNs() - t0);
        if (!(k % CHECK_EVERY)) ctx.checkTime("requests");
      }
    };
    const base = Math.floor(count / conc);
    const extra = count % conc;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const loops = Array.from({ length: conc }, (_, i) => loop(base + (i < extra ? 1 : 0)));
    await withTimeout(Promise.all(loops), ctx.remainingMs(), () => `${samples.length}/${count} requests by the deadline`);
    const elapsed = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const out = latencyMetrics(samples);
    delete out.ops_per_s;
    return { ...out, req_per_s: count / elapsed, cpu_us_per_req: (cpuS / count) * 1e6, elapsed_s: elapsed, cpu_s: cpuS };
  } finally {
    await nc.close();
  }
}

const SCENARIOS = {
  pub,
  pubsub: (ctx) => pubsubWith(ctx, false),
  "pubsub-cb": (ctx) => pubsubWith(ctx, true),
  req, // also req-own: the subject comes from the parameters
  "req-par": reqPar,
};

// ------------------------------------------------------------------ entry points

async function runScenario(args) {
  const fn = SCENARIOS[args.scenario];
  if (!fn) {
    emit({ ok: false, error: `scenario ${JSON.stringify(args.scenario)} has no natsjs implementation` });
    return 2;
  }
  const ctx = makeCtx(args.url, JSON.parse(args.params), args.timeLimit);
  const watchdog = setTimeout(() => {
    emit({ ok: false, hung: true, error: `did not finish within ${args.timeLimit}s (+${WATCHDOG_GRACE_S}s)` });
    process.exit(3);
  }, (args.timeLimit + WATCHDOG_GRACE_S) * 1000);
  watchdog.unref();
  const started = performance.now();
  let result;
  try {
    result = { ok: true, metrics: await fn(ctx) };
  } catch (err) {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    result = { ok: false, error: `${err && err.name ? err.name : "Error"}: ${err && err.message ? err.message : err}` };
  }
  result.elapsed_s = (performance.now() - started) / 1000;
  result.async_errors = ctx.errors;
  result.rss_start_kb = rssStartKb;
  emit(result);
  return result.ok ? 0 : 1;
}

async function runResponder(args) {
  const { connect } = await import("nats");
  const nc = await connect({ servers: args.url, reconnect: false, name: "bench-responder" });
  let served = 0;
  nc.subscribe(args.subject, {
    callback: (err, msg) => {
      if (err) return;
      msg.respond(msg.data);
      served++;
    },
  });
  await nc.flush();
  process.stdout.write("READY\n");
  await new Promise((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.on("close", resolve);
    process.stdin.on("error", resolve);
    process.stdin.resume();
  });
  await nc.flush();
  await nc.close();
  process.stdout.write(`SERVED ${served}\n`);
  return 0;
}

const args = parseArgs(process.argv.slice(2));
if (args.list) {
  process.stdout.write(JSON.stringify(Object.keys(SCENARIOS)) + "\n");
} else if (args.responder) {
  process.exitCode = await runResponder(args);
} else {
  process.exitCode = await runScenario(args);
}
