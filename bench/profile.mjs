// Time inside one Worker's isolate, by V8's sampling profiler through the DevTools
// protocol of `wrangler dev`'s inspector port (what `make bench` uses to tell the Worker's
// own time from the local D1, the Durable Objects' storage and Wrangler's proxies, which
// run in other isolates and processes).
//
//   node bench/profile.mjs INSPECTOR_PORT
//
// Prints `profiling` once sampling has started, samples until its standard input closes,
// then prints one JSON line: the wall time sampled, the time the isolate was executing
// (`busy_ms`: every sample but `(idle)`), that time by kind (our wasm, JavaScript, the
// runtime's native calls, the profiler's "(program)" and the garbage collector) and the
// functions with the most time of their own. The sampling itself costs time in the isolate:
// compare servers profiled the same way, not these figures with unprofiled ones.

const [port] = process.argv.slice(2);
const INTERVAL_US = 100;

const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
// Wrangler's inspector proxy wants an Origin, as DevTools sends.
const socket = new WebSocket(targets[0].webSocketDebuggerUrl, { headers: { Origin: "http://localhost" } });
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = () => reject(new Error(`no inspector on port ${port}`));
});
let lastId = 0;
const waiting = new Map();
socket.onmessage = (message) => {
  const data = JSON.parse(message.data);
  if (data.id && waiting.has(data.id)) {
    waiting.get(data.id)(data);
    waiting.delete(data.id);
  }
};
const call = (method, params = {}) =>
  new Promise((resolve) => {
    const id = ++lastId;
    waiting.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: INTERVAL_US });
await call("Profiler.start");
process.stdout.write("profiling\n");
process.stdin.resume();
await new Promise((resolve) => process.stdin.on("end", resolve));
const { result } = await call("Profiler.stop");
socket.close();
console.log(JSON.stringify(summary(result.profile)));
process.exit(0);

function summary(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map();
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    selfMs.set(id, (selfMs.get(id) ?? 0) + ms);
  });
  const kinds = {};
  const functions = new Map();
  let busy = 0;
  let idle = 0;
  for (const [id, ms] of selfMs) {
    const frame = nodes.get(id).callFrame;
    const name = frame.functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += ms;
      continue;
    }
    busy += ms;
    const kind = kindOf(frame, name);
    kinds[kind] = (kinds[kind] ?? 0) + ms;
    const key = frame.url.endsWith(".js") ? `${name} (js:${frame.lineNumber + 1})` : name;
    functions.set(key, (functions.get(key) ?? 0) + ms);
  }
  const top = [...functions].sort((a, b) => b[1] - a[1]).slice(0, 12);
  return {
    interval_us: INTERVAL_US,
    wall_ms: (profile.endTime - profile.startTime) / 1000,
    busy_ms: busy,
    idle_ms: idle,
    kinds,
    top: top.map(([name, ms]) => ({ name, ms })),
  };
}

function kindOf(frame, name) {
  if (frame.url.startsWith("wasm") || name.startsWith("wasm-function")) return "wasm";
  if (name === "wasm-to-js" || name.startsWith("js-to-wasm")) return "wasm boundary";
  if (frame.url.endsWith(".js")) return "javascript";
  if (name === "(program)" || name === "(garbage collector)") return name;
  return "runtime (native calls)";
}
