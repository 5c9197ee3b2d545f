// node_server.js: a Node.js line server whose objects live in V8's heap, not malloc's.
//
//   node tests/servers/node_server.js PORT [--keep]
//
// Echoes each line, closes on "QUIT", prints "listening on 127.0.0.1:PORT" when ready.
// --keep: one record per connection (with an array of 250 numbers: 2 KB of V8 heap) pushed on
// a module-level array and never removed, the shape of cases/global_list in JavaScript. Without
// it nothing is kept. The native engine's allocator preload sees little of either: V8 allocates its heap with mmap, and
// its garbage waits for the collector, so anonymous memory grows in most rounds either way
// (+0.9 to +5 MB a round of 500 here). The one that keeps must never be called clean, the one
// that keeps nothing never a leak.
"use strict";
const net = require("net");
const port = Number(process.argv[2] || 0);
const keep = process.argv.includes("--keep");
const kept = [];

const server = net.createServer((sock) => {
  if (keep) kept.push({ peer: sock.remotePort, at: Date.now(), slots: new Array(250).fill(kept.length) });
  sock.on("data", (d) => {
    if (d.toString().startsWith("QUIT")) sock.end();
    else sock.write(d);
  });
  sock.on("error", () => {});
});
server.listen(port, "127.0.0.1", () => console.log("listening on 127.0.0.1:" + server.address().port));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
setTimeout(() => process.exit(3), 300 * 1000).unref(); // cannot outlive a test
